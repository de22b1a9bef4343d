"""pbxsim: an Asterisk 20 stand-in for demos and tests, faithful to the captures in tests/data/ami-traces.

Modules, one job each:

* ``clock``       virtual (deterministic, jumps when idle) and real-time (speed factor) simulation clocks
* ``wire``        AMI framing; ``emit`` one method per AMI event, with the captures' headers and order
* ``dialplan``    extensions.conf reader and ${...}/$[...] substitution; ``apps`` the executor and small apps;
  ``dial`` app_dial, the two-party bridge and AMI BlindTransfer; ``queue_app`` app_queue's Queue(); ``flow`` shared
  control flow; ``atxfer`` AMI Atxfer (bridge_basic's attended transfer); ``local`` the Local channel pair it dials
* ``agi_client``  res_agi's FastAGI side: connects to the service, sends agi_*, executes SET VARIABLE ...
* ``queues``      queues.conf, members, strategies; ``channels`` channels, bridges, ids
* ``pbx``         the core state (channels, devices, registrations, far ends of calls, restart)
* ``operations``  what AMI actions do; ``ami_server`` the TCP AMI server with fault controls
* ``callmodel``   agents' desk phones and customers; ``traffic`` arrivals; ``recordings`` MixMonitor WAV files
* ``scenarios``   the captured scenarios re-enacted; ``simulator`` everything assembled
* ``floor``       the sample agents, DIDs and queue; ``simulate`` `callcenter simulate` (the simulator alone)
* ``embedded``    the simulator inside `callcenter serve` when no Asterisk is configured

It speaks AMI and FastAGI only and imports nothing of our CRM or service (tests/layout/test_import_tangles.py);
the demo, which seeds our CRM and runs the service against the simulator, is callcenter.demo.
"""

from callcenter.pbxsim.callmodel import AgentPhone, Caller, HangupSide, PhoneAnswer
from callcenter.pbxsim.simulator import Simulator, SimulatorSettings

__all__ = ["AgentPhone", "Caller", "HangupSide", "PhoneAnswer", "Simulator", "SimulatorSettings"]

"""`callcenter demo`: the whole system on one machine, where the PBX simulator and our service meet.

* ``run``       the demo runner: simulator + service (build_app) + traffic, progress lines, one JSON summary
* ``crm_seed``  the sample CRM the demo (and test floors) seed through crm_core's own services

callcenter.pbxsim stays an Asterisk stand-in that speaks AMI and FastAGI only; whatever needs both the simulator and
our CRM or service belongs here (tests/layout/test_import_tangles.py keeps it so).
"""

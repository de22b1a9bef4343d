"""The sample floor both `callcenter simulate` and `callcenter demo` run: the agents' desk phones, the DIDs and the
queue the agents join. Simulator-side facts only (extensions, phones, numbers): the demo's CRM is seeded elsewhere
(callcenter.demo.crm_seed)."""

from __future__ import annotations

from callcenter.pbxsim.callmodel import AgentPhone

__all__ = ["AGENTS", "DIDS", "DND_AGENT", "QUEUE", "RING_S", "phones", "working_agents"]

AGENTS = ("1002", "1003", "1004", "1005", "1006", "1007", "1008")
DND_AGENT = "1008"  # on do-not-disturb all demo long: paused in the queue with that reason, as an agent would be
DIDS = ("8001", "8002", "8003")
QUEUE = "support"  # agi.default_queue and the shipped dialplan's fallback queue: the agents log in there
RING_S = (2.0, 6.0)  # how long an agent's phone rings before the agent answers (simulated seconds)


def working_agents() -> tuple[str, ...]:
    return tuple(a for a in AGENTS if a != DND_AGENT)


def phones() -> tuple[AgentPhone, ...]:
    # One agent is slow and now and then away (ring-outs, re-routes); one has the phone on DND (rejects calls).
    made = [AgentPhone(extension=ext, answer_probability=0.97, answer_delay_s=RING_S) for ext in AGENTS]
    made[3] = AgentPhone(extension=AGENTS[3], answer_probability=0.8, answer_delay_s=(4.0, 10.0))
    made[AGENTS.index(DND_AGENT)] = AgentPhone(extension=DND_AGENT, busy=True)
    return tuple(made)

"""Redis key names of the routing state, defined once (every service instance must agree on them).

To be merged into callcenter/redis_keys.py. All keys carry the ``{routing}`` hash tag so that the Lua scripts,
which touch several agents' keys at once, stay valid on a Redis Cluster (one slot for the whole routing state; it
is a few hundred small keys). A test or a second tenant passes its own prefix, which must keep a hash tag.
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "cc:{routing}:"

AGENTS: Final = "agents"  # set: every agent id the store has seen
AGENT: Final = "agent:"  # hash per agent: state, since_s, reason, reserved_call, reserved_until_s, last_busy_end_s,
#                           streak (consecutive no-answers), callbacks (open callback tasks)
BUSY: Final = "busy:"  # sorted set per agent: member = start of a talk/wrap-up stretch, score = its end
CALLS: Final = "calls:"  # sorted set per agent: member = call id, score = answered at
OFFERS: Final = "offers:"  # hash per call: agent -> attempt it was offered at (0: rung by a queue);
#                            NO_ANSWER_FIELD -> last attempt whose no-answer was counted
RR: Final = "rr:"  # string per team: the agent offered last (round-robin memory)

NO_ANSWER_FIELD: Final = "#noanswer"  # '#' never starts an agent id


class RoutingKeys:
    """Key builder for one prefix."""

    __slots__ = ("prefix", "agents")

    def __init__(self, prefix: str = PREFIX) -> None:
        if "{" not in prefix or "}" not in prefix:
            raise ValueError(f"routing key prefix {prefix!r} needs a {{hash tag}} (Lua scripts span many keys)")
        self.prefix = prefix
        self.agents = prefix + AGENTS

    def agent(self, agent: str) -> str:
        return self.prefix + AGENT + agent

    def busy(self, agent: str) -> str:
        return self.prefix + BUSY + agent

    def calls(self, agent: str) -> str:
        return self.prefix + CALLS + agent

    def offers(self, call_id: str) -> str:
        return self.prefix + OFFERS + call_id

    def rr(self, team: str) -> str:
        return self.prefix + RR + team

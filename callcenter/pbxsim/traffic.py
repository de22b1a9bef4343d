"""Who calls, and when: Poisson arrivals, bursts, and scripted named calls, all drawn from one seeded generator.

Callers come from a pool of known numbers (the CRM's customers, who call back), new numbers (leads) and new numbers
that called before (they come back, to the agent who took them); each gets a patience (how long they wait for an
agent), a talk time, and who will end the conversation.

``erlang_c`` and ``arrival_rate`` size traffic for a floor: the demo picks the rate that keeps its agents at a
realistic occupancy instead of a guess that drowns them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from callcenter.pbxsim.callmodel import Caller, HangupSide

if TYPE_CHECKING:
    from callcenter.pbxsim.pbx import Pbx

__all__ = ["CallerMix", "ScriptedCall", "Traffic", "arrival_rate", "erlang_c", "service_level"]


def erlang_c(agents: int, load_erlangs: float) -> float:
    """Probability that a call waits (Erlang C) with ``agents`` and an offered load of ``load_erlangs``."""
    if load_erlangs <= 0:
        return 0.0
    if load_erlangs >= agents:
        return 1.0
    term, below = 1.0, 1.0  # A^k/k!, summed for k < N
    for k in range(1, agents):
        term *= load_erlangs / k
        below += term
    top = term * load_erlangs / agents * agents / (agents - load_erlangs)
    return top / (below + top)


def service_level(agents: int, load_erlangs: float, *, handle_s: float, threshold_s: float) -> float:
    """Share of calls answered within ``threshold_s`` (Erlang C, callers never hang up: a floor for the real one)."""
    if load_erlangs >= agents:
        return 0.0
    return 1.0 - erlang_c(agents, load_erlangs) * math.exp(-(agents - load_erlangs) * threshold_s / handle_s)


def arrival_rate(*, agents: int, occupancy: float, handle_s: float) -> float:
    """Calls per second that keep ``agents`` busy ``occupancy`` of the time (load = agents x occupancy erlangs)."""
    if not 0 < occupancy < 1 or agents < 1 or handle_s <= 0:
        raise ValueError("need agents >= 1, 0 < occupancy < 1 and handle_s > 0")
    return agents * occupancy / handle_s


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerMix:
    """How generated callers look."""

    dids: tuple[str, ...] = ("8001",)
    known_numbers: tuple[str, ...] = ()
    known_share: float = 0.5  # share of calls from known_numbers (when there are any)
    returning_share: float = 0.0  # share of calls from a new number that already called (once there is one)
    new_number_prefix: str = "+1212555"
    patience_s: tuple[float, float] = (15.0, 90.0)  # uniform range
    talk_s: tuple[float, float] = (20.0, 180.0)
    agent_hangs_up_share: float = 0.3
    # (customer, agent) speech for the recordings, one pair drawn per caller; empty: tone voices
    voices: tuple[tuple[Path, Path], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ScriptedCall:
    at_s: float  # from the start of the traffic
    caller: Caller


class Traffic:
    """Generates calls into a PBX on its clock. ``offered`` counts the calls placed."""

    def __init__(self, *, pbx: Pbx, mix: CallerMix | None = None, seed: int = 0,
                 on_call: Callable[[Caller], None] | None = None) -> None:
        self.pbx = pbx
        self.mix = mix or CallerMix()
        self.on_call = on_call
        self.offered = 0
        self._rng = random.Random(seed)
        self._new_numbers: list[str] = []  # new numbers that called, in order: who may come back

    def caller(self, *, label: str = "") -> Caller:
        rng, mix = self._rng, self.mix
        on_a_call = self._on_a_call() if mix.returning_share else set()
        known = [n for n in mix.known_numbers if n not in on_a_call]
        returning = [n for n in self._new_numbers if n not in on_a_call]
        if known and rng.random() < mix.known_share:
            number = rng.choice(known)
        elif mix.returning_share and returning and rng.random() < mix.returning_share:
            number = rng.choice(returning)
        else:
            number = f"{mix.new_number_prefix}{rng.randrange(1000, 9999)}"
            for _ in range(20):  # a new number drawn twice while its first call is up would be one person twice
                if number not in on_a_call:
                    break
                number = f"{mix.new_number_prefix}{rng.randrange(1000, 9999)}"
            if mix.returning_share and number not in mix.known_numbers:
                self._new_numbers.append(number)
        did = rng.choice(mix.dids)
        patience_s = rng.uniform(*mix.patience_s)
        talk_s = rng.uniform(*mix.talk_s)
        hangup_side = HangupSide.AGENT if rng.random() < mix.agent_hangs_up_share else HangupSide.CALLER
        # drawn last, so that a mix without voices gives the same callers as before
        speech, agent_speech = rng.choice(mix.voices) if mix.voices else (None, None)
        return Caller(number=number, did=did, patience_s=patience_s, talk_s=talk_s, hangup_side=hangup_side,
                      label=label, speech=speech, agent_speech=agent_speech)

    def _on_a_call(self) -> set[str]:
        """Numbers with a call in progress: a person does not call twice at once (only asked of mixes with returning
        callers, so that older mixes draw the callers they always drew)."""
        calls = getattr(self.pbx, "calls", None) or {}
        return {record.caller for record in calls.values() if record.ended_s is None and record.caller}

    def place(self, caller: Caller) -> None:
        self.offered += 1
        if self.on_call is not None:
            self.on_call(caller)
        self.pbx.incoming_call(caller)

    async def poisson(self, *, rate_per_s: float, duration_s: float | None) -> None:
        """Calls with exponential gaps (mean 1/rate) until ``duration_s`` of simulated time (None: forever)."""
        if rate_per_s <= 0:
            return
        clock = self.pbx.clock
        end = None if duration_s is None else clock.now_s() + duration_s
        while True:
            gap = self._rng.expovariate(rate_per_s)
            if end is not None and clock.now_s() + gap > end:
                await clock.sleep(max(0.0, end - clock.now_s()))
                return
            await clock.sleep(gap)
            self.place(self.caller())

    async def clock_gap(self, rate_per_s: float) -> None:
        """Sleep one exponential inter-arrival gap (mean 1/rate) on the simulation clock."""
        await self.pbx.clock.sleep(self._rng.expovariate(rate_per_s) if rate_per_s > 0 else 3600.0)

    async def burst(self, *, count: int, spacing_s: float) -> None:
        for i in range(count):
            if i:
                await self.pbx.clock.sleep(spacing_s)
            self.place(self.caller(label=f"burst-{i}"))

    async def script(self, calls: Sequence[ScriptedCall]) -> None:
        clock = self.pbx.clock
        start = clock.now_s()
        for call in sorted(calls, key=lambda c: c.at_s):
            await clock.sleep(max(0.0, start + call.at_s - clock.now_s()))
            self.place(call.caller)

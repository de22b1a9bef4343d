"""The people a dialer campaign calls: a seeded, reproducible model of what each called number does.

Per call the model draws, from a profile (the default or one set for that number): reject busy or with congestion,
ring out, or answer after a while; once answered, a person (AMD HUMAN, or NOTSURE now and then) or an answering
machine (AMD MACHINE), how long AMD() listens, how long the person talks with an agent, and how long they stay on a
silent line before hanging up. The draw for the n-th call to a number depends only on (seed, number, n), so a run
is reproducible whatever order the calls are placed in, and a test can pin a number down ("this one is busy").
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from callcenter.pbxsim.callmodel import Caller, HangupSide

__all__ = ["CalleeModel", "CalleeProfile"]

# app_amd.c's AMDCAUSE texts with the shipped amd.conf (greeting 1500 ms, after-greeting silence 800 ms, total 5000 ms).
# HUMAN is "HUMAN-<silence heard>-<after_greeting_silence>", decided the moment the silence reaches 800 ms: always
# HUMAN-800-800 (Asterisk 20.20.1, 20 ms frames). A chatty machine may also end as MAXWORDS-3-2 (seen there too).
_CAUSE = {"HUMAN": "HUMAN-800-800", "MACHINE": "LONGGREETING-1500-1500", "NOTSURE": "TOOLONG-5000"}


@dataclass(frozen=True, slots=True, kw_only=True)
class CalleeProfile:
    """Probabilities are per call. ``busy`` and ``congestion`` are taken first, then ``answer``; an answered call is
    a ``machine`` with that probability, else a person (``notsure`` of the people leave AMD unsure)."""

    busy: float = 0.0
    congestion: float = 0.0
    answer: float = 1.0
    answer_after_s: tuple[float, float] = (3.0, 12.0)
    machine: float = 0.0
    notsure: float = 0.0
    amd_human_s: tuple[float, float] = (1.0, 2.0)  # greeting ("Hello?") plus AMD's 800 ms after-greeting silence
    amd_machine_s: tuple[float, float] = (1.5, 3.0)
    talk_s: tuple[float, float] = (30.0, 180.0)
    silence_patience_s: tuple[float, float] = (3.0, 8.0)  # a person hangs up on a silent line after this

    def __post_init__(self) -> None:
        for name in ("busy", "congestion", "answer", "machine", "notsure"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in 0..1, got {value!r}")
        if self.busy + self.congestion > 1.0:
            raise ValueError("busy + congestion must not exceed 1")
        for name in ("answer_after_s", "amd_human_s", "amd_machine_s", "talk_s", "silence_patience_s"):
            low, high = getattr(self, name)
            if not 0.0 <= low <= high:
                raise ValueError(f"{name} must be (low, high) with 0 <= low <= high, got {(low, high)!r}")

    @classmethod
    def always(cls, what: str, **kw: object) -> CalleeProfile:
        """A number that always does one thing: busy, congestion, no_answer, human, notsure or machine."""
        shapes: dict[str, dict[str, object]] = {
            "busy": {"busy": 1.0},
            "congestion": {"congestion": 1.0},
            "no_answer": {"answer": 0.0},
            "human": {},
            "notsure": {"notsure": 1.0},
            "machine": {"machine": 1.0},
        }
        if what not in shapes:
            raise ValueError(f"unknown callee behaviour {what!r}; one of {', '.join(shapes)}")
        return cls(**{**shapes[what], **kw})  # type: ignore[arg-type]


@dataclass(slots=True)
class CalleeModel:
    """Numbers a campaign dials, answered per their profile. ``profiles`` pins single numbers down."""

    seed: int = 0
    default: CalleeProfile = field(default_factory=CalleeProfile)
    profiles: dict[str, CalleeProfile] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)  # calls placed to each number so far

    def set(self, number: str, profile: CalleeProfile) -> None:
        self.profiles[number] = profile

    def caller_for(self, number: str) -> Caller:
        """The callee of the next call to ``number`` (advances that number's call count)."""
        n = self.calls.get(number, 0)
        self.calls[number] = n + 1
        rng = random.Random(f"{self.seed}:{number}:{n}")
        p = self.profiles.get(number, self.default)
        roll = rng.random()
        if roll < p.busy:
            action = "busy"
        elif roll < p.busy + p.congestion:
            action = "congestion"
        elif rng.random() < p.answer:
            action = "answer"
        else:
            action = "ignore"
        machine = rng.random() < p.machine
        status = "MACHINE" if machine else ("NOTSURE" if rng.random() < p.notsure else "HUMAN")
        amd_s = rng.uniform(*(p.amd_machine_s if machine else p.amd_human_s))
        if status == "NOTSURE":
            amd_s = 5.0  # AMD gave up at its total analysis time
        return Caller(
            number=number,
            name="Callee",
            originate_answer=action,
            answers_after_s=rng.uniform(*p.answer_after_s),
            talk_s=rng.uniform(*p.talk_s),
            hangup_side=HangupSide.CALLER,
            amd_status=status,
            amd_cause=_CAUSE[status],
            amd_s=amd_s,
            silence_patience_s=None if machine else rng.uniform(*p.silence_patience_s),
            label=f"callee-{status.lower()}" if action == "answer" else f"callee-{action}",
        )

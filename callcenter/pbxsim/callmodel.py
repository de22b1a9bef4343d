"""The people on the line: SIP desk-phone agents and customers, with the behaviour the simulation draws from.

All randomness goes through the simulator's seeded ``random.Random``, so a seed reproduces a run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

__all__ = ["AgentPhone", "Caller", "HangupSide", "PhoneAnswer", "PhoneState"]


class HangupSide(StrEnum):
    CALLER = "caller"
    AGENT = "agent"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentPhone:
    """One agent's desk phone (a PJSIP endpoint named after the extension)."""

    extension: str
    name: str = ""  # caller id name; default "Agent <extension>"
    registered: bool = True
    # Static AOR contact (as in the captures: reachable without REGISTER, so no ContactStatus events at start).
    static_contact: bool = True
    answer_probability: float = 1.0
    answer_delay_s: tuple[float, float] = (2.0, 2.0)  # uniform range; the captures' phones answer after 2 s
    busy: bool = False  # rejects every call with 486 Busy Here (do-not-disturb)
    call_waiting: bool = False  # without it a phone already on a call answers a new one with 486 Busy Here
    context: str = "from-internal"

    @property
    def caller_name(self) -> str:
        return self.name or f"Agent {self.extension}"


@dataclass(slots=True)
class PhoneState:
    """Mutable state of a phone during a run (registration can change, DND can be toggled)."""

    config: AgentPhone
    registered: bool
    busy: bool
    contact_port: int
    scripted: list[PhoneAnswer] = field(default_factory=list)
    # (display name, number) of every call offered, in order: the INVITE's From, which chan_pjsip takes from the
    # leg's connected line (res_pjsip_caller_id.c), i.e. the caller's CALLERID as Dial()/Queue() copied it
    offered: list[tuple[str | None, str | None]] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneAnswer:
    """What a phone does with one offered call: ring then answer after ``delay_s``, ring forever, or reject."""

    action: str  # "answer" | "ignore" | "busy"
    delay_s: float = 0.0

    @classmethod
    def draw(cls, phone: AgentPhone, rng: random.Random) -> PhoneAnswer:
        if phone.busy:
            return cls(action="busy")
        if rng.random() >= phone.answer_probability:
            return cls(action="ignore")
        low, high = phone.answer_delay_s
        return cls(action="answer", delay_s=rng.uniform(low, high))


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    """A customer calling a DID (or being called by an Originate)."""

    number: str
    name: str = "Customer"
    did: str = "8001"
    patience_s: float = 60.0  # gives up (CANCEL / leaves the queue) when no agent answered by then
    talk_s: float = 60.0  # conversation length once an agent answers
    hangup_side: HangupSide = HangupSide.CALLER  # who ends the conversation after talk_s
    label: str = ""  # scenario name for logs and summaries
    speech: Path | None = None  # 8 kHz mono WAV of the customer's voice for the recording (tones otherwise)
    agent_speech: Path | None = None
    answers_after_s: float = 2.0  # as the called party of an Originate: rings this long, then answers
    originate_answer: str = "answer"  # as the called party: "answer" | "ignore" | "busy" | "congestion"
    # As a dialer campaign's callee (pbxsim.callees): what AMD() concludes and how long it listens, and how long a
    # person stays on a silent line (nobody speaks to them) before hanging up; None: never (a machine records on).
    amd_status: str = "HUMAN"  # MACHINE | HUMAN | NOTSURE (app_amd.c's AMDSTATUS)
    amd_cause: str = "HUMAN-800-800"  # app_amd.c: silence heard - after_greeting_silence
    amd_s: float = 1.5
    silence_patience_s: float | None = None
    dtmf: str = "1"  # what the caller presses when the dialplan Read()s a digit (callback offer)

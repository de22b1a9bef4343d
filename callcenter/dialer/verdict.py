"""What the dialer's checks answer (pure): a number may be dialled now (``Permit``) or not (``Refusal`` with a reason).

One enum of reasons for the calling windows (callcenter.dialer.windows), the law and the lists
(callcenter.dialer.compliance) and the stored attempt (``dialer_attempts.refusal_reason``), so a refusal reads the same
in the log, the campaign page and the CRM.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Permit", "Reason", "Refusal", "Verdict"]


class Reason(enum.StrEnum):
    INVALID_NUMBER = "invalid_number"  # does not parse, or is not a number that can be called (not valid)
    DNC_SYSTEM = "dnc_system"  # on the system-wide do-not-call list
    DNC_CAMPAIGN = "dnc_campaign"  # on this campaign's do-not-call list
    DNC_RECORD = "dnc_record"  # the contact's / lead's own do_not_call flag
    NO_CONSENT = "no_consent"  # consent refused, or not granted where the campaign requires it
    IN_FLIGHT = "in_flight"  # an attempt to this number is still going on: never two at once
    MAX_ATTEMPTS = "max_attempts"  # the retry rules' maximum for that outcome, or per number, is reached
    FINISHED = "finished"  # the number's last attempt ended it (connected, or an outcome that is not retried)
    RETRY_TOO_SOON = "retry_too_soon"  # the retry rule's delay after the last attempt has not passed
    ABANDONED_RECENTLY = "abandoned_recently"  # abandoned less than 72 h ago and no agent reserved for it
    NO_TIME_ZONE = "no_time_zone"  # the number maps to no usable zone and the campaign names no fallback
    OUTSIDE_WINDOW = "outside_window"  # outside the campaign's calling hours in the callee's local time
    NOT_SENT = "not_sent"  # claimed, but the Originate could not be sent (no AMI session): nothing was dialled


@dataclass(frozen=True, slots=True)
class Permit:
    """Dial now. ``until_s``: when the calling window the callee is in closes (epoch seconds), so a scheduler knows
    how long the permission lasts; ``zones``: the callee's time zones it was judged in."""

    until_s: float | None = None
    zones: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class Refusal:
    """Do not dial now. ``retry_at_s``: the earliest time the same check could pass (epoch seconds) when that is known
    (a window's next opening, a retry delay's end); None: not by waiting (a do-not-call entry, no consent)."""

    reason: Reason
    detail: str = ""
    retry_at_s: float | None = None

    def __bool__(self) -> bool:
        return False


Verdict = Permit | Refusal

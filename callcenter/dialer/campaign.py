"""A campaign's definition as a manager writes it (JSON), typed and checked (pure).

pydantic checks the shape (unknown keys refused, JSON types strict: no "25" for 25, no 1 for true), the validators
check the law (callcenter.dialer.compliance): every error is one ``Invalid`` naming the field path
(``law.ring_s``, ``windows.mon[0].end``, ``retry.abandoned.delay_s``), as the saved reports' definitions do.

``windows``: left out, the safe default (Monday-Friday 09:00-20:00, Saturday 10:00-17:00, callee's local time); given,
exactly those hours: a weekday it does not name has no calling hours (a manager who writes Monday's hours and gets
Sunday's too from a default would be surprised in the worst way).
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from callcenter.dialer.compliance import (
    FTC_WINDOW_S,
    MAX_ABANDON_PCT,
    MAX_RING_S,
    MIN_REDIAL_AFTER_ABANDON_S,
    MIN_RING_S,
    MIN_WINDOW_S,
    OFCOM_WINDOW_S,
    AbandonPolicy,
    AfterLast,
    ConsentRule,
    DialRules,
    LawSettings,
    RetryRule,
    RetryRules,
    check_caller_id,
)
from callcenter.ami.channel_vars import DEFAULT_INFO_MESSAGE
from callcenter.dialer.originate import SOUND_NAME, AmdNotSure, MachineAction
from callcenter.dialer.outcomes import AttemptOutcome, CampaignMode
from callcenter.dialer.scripts import MAX_SCRIPT_CHARS, parse_script
from callcenter.dialer.windows import WEEKDAYS, CallingWindows, Hours, load_zone, parse_hhmm
from callcenter.reports.definition import field_path
from crm_core.errors import Invalid
from crm_core.input_rules import INT64_MAX, TooDeep, check_json, check_text
from crm_core.models import CallConsent, Disposition, LeadStatus

__all__ = [
    "AbandonSpec", "AnsweringSpec", "CampaignDefinition", "DispositionSpec", "HoursSpec", "LawSpec", "RetryRuleSpec",
    "RetrySpec", "WindowsSpec", "parse_campaign",
]

MAX_JSON_DEPTH = 8  # the deepest a definition goes is 4 (windows.mon[0].start)
MAX_JSON_BYTES = 64 * 1024
MAX_HOURS_PER_DAY = 8
MAX_DISPOSITIONS = 30
DISPOSITION_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
CUSTOM_KEY = re.compile(r"^custom\.[A-Za-z0-9_]{1,64}$")
# Record fields a campaign disposition may set (on a contact or lead; custom.<key> on any record that has that field):
# the calling rules and the record's own custom fields, never owners, names or numbers.
SETTABLE_FIELDS = {"do_not_call": "true or false", "call_consent": "granted, refused or unknown"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HoursSpec(_Strict):
    start: str = Field(max_length=5)
    end: str = Field(max_length=5)

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        parse_hhmm(value)
        return value

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: str, info: Any) -> str:
        start = info.data.get("start")
        if start is not None and parse_hhmm(end) <= parse_hhmm(start):
            raise ValueError(f"must be after start ({start})")
        return end


def _day() -> Any:
    return Field(default_factory=list, max_length=MAX_HOURS_PER_DAY)


class WindowsSpec(_Strict):
    """Local calling hours per weekday (the callee's time zone); a day not given has none."""

    mon: list[HoursSpec] = _day()
    tue: list[HoursSpec] = _day()
    wed: list[HoursSpec] = _day()
    thu: list[HoursSpec] = _day()
    fri: list[HoursSpec] = _day()
    sat: list[HoursSpec] = _day()
    sun: list[HoursSpec] = _day()

    @field_validator(*WEEKDAYS)
    @classmethod
    def _in_order(cls, hours: list[HoursSpec]) -> list[HoursSpec]:
        for before, after in zip(hours, hours[1:]):
            if parse_hhmm(after.start) < parse_hhmm(before.end):
                raise ValueError("a day's hours must be in order and must not overlap")
        return hours

    def calling_windows(self) -> CallingWindows:
        return CallingWindows(tuple(tuple(Hours.of(h.start, h.end) for h in getattr(self, d)) for d in WEEKDAYS))


def _default_windows() -> WindowsSpec:
    weekday = [HoursSpec(start="09:00", end="20:00")]
    return WindowsSpec(mon=weekday, tue=weekday, wed=weekday, thu=weekday, fri=weekday,
                       sat=[HoursSpec(start="10:00", end="17:00")])


class RetryRuleSpec(_Strict):
    delay_s: int = Field(ge=0, le=FTC_WINDOW_S)
    max_attempts: int = Field(ge=0, le=50)


def _rule(delay_s: int, max_attempts: int) -> Any:
    return Field(default_factory=lambda: RetryRuleSpec(delay_s=delay_s, max_attempts=max_attempts))


class RetrySpec(_Strict):
    """Per outcome: wait ``delay_s`` after it, give up after ``max_attempts`` of it; null: that outcome is final."""

    no_answer: RetryRuleSpec | None = _rule(2 * 3600, 4)
    busy: RetryRuleSpec | None = _rule(10 * 60, 3)
    failed: RetryRuleSpec | None = _rule(30 * 60, 2)
    machine: RetryRuleSpec | None = _rule(4 * 3600, 2)
    abandoned: RetryRuleSpec | None = _rule(MIN_REDIAL_AFTER_ABANDON_S, 1)
    max_attempts_per_number: int = Field(default=6, ge=1, le=50)
    after_last: AfterLast = AfterLast.CLOSE

    def retry_rules(self) -> RetryRules:
        rules = {
            AttemptOutcome(name): RetryRule(float(rule.delay_s), rule.max_attempts)
            for name in ("no_answer", "busy", "failed", "machine", "abandoned")
            if (rule := getattr(self, name)) is not None
        }
        return RetryRules(rules, self.max_attempts_per_number, self.after_last)


class AbandonSpec(_Strict):
    window_s: int = Field(default=OFCOM_WINDOW_S, ge=MIN_WINDOW_S, le=FTC_WINDOW_S)
    cap_pct: float = MAX_ABANDON_PCT
    amd_false_positive_rate: float = Field(default=0.1, ge=0, le=1)

    @field_validator("cap_pct")
    @classmethod
    def _cap(cls, cap_pct: float) -> float:
        if not 0 < cap_pct <= MAX_ABANDON_PCT:
            raise ValueError(f"must be above 0 and at most {MAX_ABANDON_PCT:g} % of live-answered calls (the law's"
                             " maximum, Ofcom and FTC TSR 310.4(b)(4)(i))")
        return cap_pct


class LawSpec(_Strict):
    abandon: AbandonSpec = Field(default_factory=AbandonSpec)
    ring_s: float = 25.0
    redial_after_abandon_s: int = MIN_REDIAL_AFTER_ABANDON_S
    consent: ConsentRule = ConsentRule.GRANTED

    @field_validator("ring_s")
    @classmethod
    def _ring(cls, ring_s: float) -> float:
        if not MIN_RING_S <= ring_s <= MAX_RING_S:
            raise ValueError(f"must ring at least {MIN_RING_S:g} s before giving up (FTC TSR 310.4(b)(4)(ii),"
                             f" Ofcom) and at most {MAX_RING_S:g} s")
        return ring_s

    @field_validator("redial_after_abandon_s")
    @classmethod
    def _redial(cls, seconds: int) -> int:
        if not MIN_REDIAL_AFTER_ABANDON_S <= seconds <= FTC_WINDOW_S:
            raise ValueError("must be at least 72 h (259200 s) after an abandoned call (Ofcom) and at most 30 days")
        return seconds


class AnsweringSpec(_Strict):
    """What [cc-campaign] does once the callee answers: how AMD()'s NOTSURE counts, what a machine gets, and the
    information message (who called, a number to call back) a person hears when no agent is free within 2 s."""

    amd_notsure: AmdNotSure = AmdNotSure.HUMAN
    machine_action: MachineAction = MachineAction.HANGUP
    info_message: str = Field(default=DEFAULT_INFO_MESSAGE, max_length=128)

    @field_validator("info_message")
    @classmethod
    def _sound(cls, name: str) -> str:
        if not SOUND_NAME.match(name):
            raise ValueError("must be a sound file name without extension (letters, digits, _ / -), "
                             "as Playback() takes it")
        return name


class DispositionSpec(_Strict):
    """A campaign's own disposition code (``promised_to_pay``): what the agent picks on a call of this campaign, what
    the call's disposition is then (``counts_as``, one of the fixed list the reports group by) and what it does to
    the called record, in the transaction that saves the wrap-up (callcenter.dialer.dispositions)."""

    label: str = Field(min_length=1, max_length=80)
    counts_as: Disposition
    # {"call_consent": "refused", "custom.promised_on": "2026-12-24"}: SETTABLE_FIELDS or custom.<key>.
    set_fields: dict[str, str | bool | int | float | None] = Field(default_factory=dict, max_length=20)
    stage: int | None = Field(default=None, ge=1, le=INT64_MAX)  # move the record's open deal to this stage (id)
    lead_status: LeadStatus | None = None  # a called lead's new status
    campaign_dnc: bool = False  # put the number on this campaign's do-not-call list

    @field_validator("label")
    @classmethod
    def _label(cls, label: str) -> str:
        if not label.strip():
            raise ValueError("must not be blank")
        return check_text(label, multiline=False)

    @field_validator("lead_status")
    @classmethod
    def _not_converted(cls, status: LeadStatus | None) -> LeadStatus | None:
        if status is LeadStatus.CONVERTED:
            raise ValueError("a lead is converted by converting it, not by a disposition")
        return status


def _check_set_field(key: str, value: Any) -> str | None:
    """Why ``key: value`` may not be in a disposition's set_fields, or None."""
    if key == "do_not_call":
        return None if isinstance(value, bool) else "must be true or false"
    if key == "call_consent":
        allowed = [c.value for c in CallConsent]
        return None if value in allowed else f"must be one of {', '.join(allowed)}"
    if CUSTOM_KEY.match(key):
        return None if not isinstance(value, str) else _text_problem(value)
    return (f"{key!r} is not a field a disposition may set (allowed: {', '.join(SETTABLE_FIELDS)}, "
            "custom.<key> of a custom field)")


def _text_problem(value: str) -> str | None:
    if len(value) > 500:
        return "at most 500 characters"
    try:
        check_text(value, multiline=False)
    except ValueError as exc:
        return str(exc)
    return None


class CampaignDefinition(_Strict):
    """What a campaign dials (a saved report's rows), who takes the calls (a team), how and when, within which law.
    ``priority``: 1 to 10, higher first when several campaigns share agents."""

    name: str = Field(min_length=1, max_length=200)
    saved_report_id: int = Field(ge=1, le=INT64_MAX)
    team_id: int = Field(ge=1, le=INT64_MAX)
    caller_id: str = Field(max_length=32)
    mode: CampaignMode
    windows: WindowsSpec = Field(default_factory=_default_windows)
    fallback_zone: str | None = Field(default=None, max_length=64)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    law: LawSpec = Field(default_factory=LawSpec)
    priority: int = Field(default=5, ge=1, le=10)
    answering: AnsweringSpec = Field(default_factory=AnsweringSpec)
    # Shown to the agent during the campaign's calls, fields filled in (callcenter.dialer.scripts: {contact.first_name}).
    script: str | None = Field(default=None, max_length=MAX_SCRIPT_CHARS)
    # The campaign's own disposition codes and what each does to the called record (DispositionSpec).
    dispositions: dict[str, DispositionSpec] = Field(default_factory=dict, max_length=MAX_DISPOSITIONS)

    @field_validator("script")
    @classmethod
    def _script(cls, script: str | None) -> str | None:
        if script is not None:
            parse_script(script)
        return script

    @model_validator(mode="after")
    def _disposition_codes(self) -> CampaignDefinition:
        for code, spec in self.dispositions.items():
            if not DISPOSITION_CODE.match(code):
                raise _Located(("dispositions", code), "a disposition code is lower-case letters, digits and _ "
                               "(at most 40, starting with a letter), e.g. promised_to_pay")
            for key, value in spec.set_fields.items():
                problem = _check_set_field(key, value)
                if problem is not None:
                    raise _Located(("dispositions", code, "set_fields", key), problem)
        return self

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("must not be blank")
        return check_text(name, multiline=False)

    @field_validator("caller_id")
    @classmethod
    def _caller_id(cls, caller_id: str) -> str:
        return check_caller_id(caller_id)

    @field_validator("fallback_zone")
    @classmethod
    def _zone(cls, zone: str | None) -> str | None:
        if zone is not None and load_zone(zone) is None:
            raise ValueError(f"{zone!r} is not a known IANA time zone (e.g. Europe/London)")
        return zone

    @model_validator(mode="after")
    def _abandoned_retry_after_the_law(self) -> CampaignDefinition:
        rule = self.retry.abandoned
        if rule is not None and rule.delay_s < self.law.redial_after_abandon_s:
            # Raised as a located error by parse_campaign (a model validator's own errors carry no field).
            raise _Located(("retry", "abandoned", "delay_s"),
                           f"must be at least law.redial_after_abandon_s ({self.law.redial_after_abandon_s} s)")
        return self

    def rules(self) -> DialRules:
        """The compliance rules may_dial reads."""
        law = LawSettings(
            abandon=AbandonPolicy(float(self.law.abandon.window_s), self.law.abandon.cap_pct,
                                  self.law.abandon.amd_false_positive_rate),
            ring_s=self.law.ring_s,
            redial_after_abandon_s=float(self.law.redial_after_abandon_s),
            consent=self.law.consent,
        )
        return DialRules(self.windows.calling_windows(), self.fallback_zone, self.retry.retry_rules(), law)

    def to_json(self) -> dict[str, Any]:
        """What is stored (dialer_campaigns.definition) and given back: every default written out, so a later change
        of a default never changes a stored campaign."""
        return self.model_dump(mode="json")


class _Located(ValueError):
    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def parse_campaign(data: Any) -> CampaignDefinition:
    """A definition from posted or stored JSON (text, bytes or already decoded), or one ``Invalid`` naming the first
    bad field. Nesting is checked before anything recursive reads it (a 5,000-deep body is refused, not a crash)."""
    if isinstance(data, (str, bytes, bytearray)):
        if len(data) > MAX_JSON_BYTES:
            raise Invalid(f"definition larger than {MAX_JSON_BYTES} bytes", field="definition")
        try:
            data = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise Invalid(f"not valid JSON: {exc}", field="definition") from None
        except RecursionError:
            raise Invalid(f"nested deeper than {MAX_JSON_DEPTH} levels", field="definition") from None
    if not isinstance(data, dict):
        raise Invalid("must be a JSON object", field="definition")
    try:
        check_json(data, max_depth=MAX_JSON_DEPTH)
    except TooDeep as exc:
        where, _, message = str(exc).partition(": ")
        raise Invalid(message, field=where) from None
    except ValueError as exc:  # an integer beyond 64 bits
        where, _, message = str(exc).partition(": ")
        raise Invalid(message, field=where) from None
    try:
        # Through JSON, strictly: the types a client sends are the ones it meant, stored or posted alike.
        return CampaignDefinition.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        located = (first.get("ctx") or {}).get("error")
        if isinstance(located, _Located):
            raise Invalid(str(located), field=field_path(located.loc)) from None
        message = first["msg"].removeprefix("Value error, ")
        raise Invalid(message, field=field_path(first["loc"]) or "definition") from None

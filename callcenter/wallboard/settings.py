"""The ``[wallboard]`` settings section: how often the figures are recomputed and when they turn amber or red."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Figure = Literal["service_level_pct", "asa_s", "aht_s", "longest_wait_s", "waiting", "callbacks_overdue", "abandoned", "missed"]


class Threshold(BaseModel):
    """``red`` below ``amber`` means lower is worse (service level); otherwise higher is worse (waits)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amber: float
    red: float

    @model_validator(mode="after")
    def _distinct(self) -> "Threshold":
        if self.amber == self.red:
            raise ValueError("amber and red must differ (their order says whether lower or higher is worse)")
        return self


DEFAULT_THRESHOLDS: dict[str, Threshold] = {
    "service_level_pct": Threshold(amber=80, red=70),
    "asa_s": Threshold(amber=20, red=40),
    "longest_wait_s": Threshold(amber=30, red=60),
    "waiting": Threshold(amber=3, red=6),
    "callbacks_overdue": Threshold(amber=1, red=5),
}


class WallboardSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # After a call is written (or a callback changes) the figures are recomputed once, this long after the first
    # change: a burst of calls costs one query for every screen.
    refresh_debounce_s: float = Field(default=1.0, ge=0.05, le=60)
    # Recomputed at least this often anyway: callbacks become overdue and days roll over without any event.
    refresh_interval_s: float = Field(default=30.0, ge=1, le=3600)
    # Figure -> amber/red limits, merged over the defaults (e.g. { asa_s = { amber = 15, red = 30 } }).
    thresholds: dict[Figure, Threshold] = Field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))

    @field_validator("thresholds", mode="after")
    @classmethod
    def _over_defaults(cls, value: dict[str, Threshold]) -> dict[str, Threshold]:
        return {**DEFAULT_THRESHOLDS, **value}

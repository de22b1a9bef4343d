"""The ``[reports]`` settings section: how the service level is measured and how long a report may be."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from callcenter.reports.figures import ServiceLevelRule


class ReportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Answered within this many seconds of waiting counts towards the service level (the "20" of "80/20").
    service_level_s: float = Field(default=20.0, ge=0, le=3600)
    # Callers who hang up sooner than this are left out of the service level (0: every offered call counts).
    short_abandon_s: float = Field(default=5.0, ge=0, le=600)
    # The longest period one report request may cover.
    max_range_days: int = Field(default=31, ge=1, le=100)
    # First-contact resolution: an answered call is resolved if its number does not call again within this many days.
    fcr_days: int = Field(default=7, ge=1, le=90)
    # How often the quarter-hour call sums take in the calls written since (reports are exact either way: the calls
    # not yet taken in are added up one by one, so this only bounds how many a month's report reads).
    sums_refresh_s: float = Field(default=30.0, gt=0, le=3600)

    def rule(self) -> ServiceLevelRule:
        return ServiceLevelRule(threshold_s=self.service_level_s, short_abandon_s=self.short_abandon_s)

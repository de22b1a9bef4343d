"""Reading a /metrics answer in tests: the Prometheus text format parsed by prometheus_client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from crm_core.access import Principal
from crm_core.db import Database
from crm_core.models import Role
from crm_core.schemas import UserIn
from crm_core.users import create_metrics_token, create_user


class Scrape:
    """Samples by name and labels; a sample not exposed reads as None (not 0: absence is a finding)."""

    def __init__(self, text: str) -> None:
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def get(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    def value(self, name: str, **labels: str) -> float:
        found = self.get(name, **labels)
        assert found is not None, f"{name}{labels} not exposed"
        return found

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}


async def metrics_headers(db: Database) -> dict[str, str]:
    """The headers of a Prometheus server: a monitoring token (scope metrics:read) of a user made for it."""
    async with db.session() as session:
        user = await create_user(session, Principal.system(), UserIn(name="Prometheus", role=Role.AGENT))
        _, secret = await create_metrics_token(session, Principal.system(), user_id=user.id, name="prometheus")
    return {"Authorization": f"Bearer {secret}"}

"""Every Prometheus metric of the service, defined here and nowhere else (names carry their units: _seconds, _total).

Each app owns a CollectorRegistry, never prometheus_client's global one, so several apps in one process (the tests,
a second instance) keep their own figures. The figures come two ways:
- observed as they happen, one histogram observe or counter increment each: a FastAGI route's answer time, a call's
  outcome;
- read at scrape time (``StateCollector``) from what the components keep anyway: AMI stats and its queue, the FastAGI
  server's and the routing service's counters, the Redis fan-out queue, open WebSockets; and from the aggregates of
  ``refresh`` (webhook and e-mail outboxes, transcription jobs: one query each per scrape, never one per event).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from callcenter.ami.connection import AmiState
from callcenter.events import CallEnded, CallOutcome
from crm_core.db import Database
from crm_core.mail_models import MailMessage
from crm_core.models import DeliveryStatus, WebhookDelivery
from crm_core.recording_models import JobStatus, TranscriptionJob
from crm_core.types import utcnow

log = logging.getLogger("callcenter.metrics")

# A route answer is a few milliseconds when the CRM cache and Redis answer; the FastAGI budget (agi.time_budget_ms,
# 300 by default) bounds the decision, Asterisk's acknowledgement of the answer comes on top.
# A scrape answers within this even when the database hangs (Prometheus gives up after 10 s by default): the AMI and
# routing figures matter most while something is wrong.
DB_FIGURES_TIMEOUT_S: Final = 2.0
ROUTE_ANSWER_BUCKETS_S: Final = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0)
# Seconds of work per second of audio: the bundled tiny.en on a CPU core is well below 1; above 1 the queue grows.
REALTIME_FACTOR_BUCKETS: Final = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0)
# Routing's failed steps (callcenter.routing.service): the caller reached the team queue. With the FastAGI server's own
# fail-open reasons (callcenter.ami.agi.Reason: the default queue) and crm-timeout / crm-error (routed on, without the
# caller's CRM facts) they make callcenter_route_fail_open_total's reasons.
ROUTING_FAIL_OPEN: Final = {"state-error->queue": "state-error", "policy-error->queue": "policy-error"}


def _reason_label(reason: str) -> str:
    return reason.removesuffix("->queue")


@dataclass(slots=True)
class Backlog:
    """A durable queue's pending rows at the last scrape: how many, and the oldest one's age."""

    depth: int = 0
    oldest_age_s: float = 0.0


@dataclass(slots=True)
class Sources:
    """Where the scrape-time figures are read; each callable answers None while its component is not running (no
    Asterisk configured, FastAGI disabled, no Redis)."""

    ami: Callable[[], Any] = lambda: None  # callcenter.ami.connection.AmiConnection
    agi: Callable[[], Any] = lambda: None  # callcenter.ami.agi.FastAgiServer
    routing: Callable[[], Any] = lambda: None  # callcenter.routing.service.RoutingService
    queue_keeper: Callable[[], Any] = lambda: None  # callcenter.queues.keeper.MembershipKeeper
    gap_recovery: Callable[[], Any] = lambda: None  # callcenter.recovery.service.GapRecovery
    fanout: Callable[[], Any] = lambda: None  # callcenter.redis_bus.RedisFanout
    websockets: Callable[[], Mapping[str, int]] = dict  # open sockets by endpoint
    # More durable queues read once per scrape, by consumer name (e.g. the event outbox's cursors): each reader
    # answers {consumer: Backlog} and is awaited inside refresh's error handling.
    db_backlogs: list[Callable[[Database], Awaitable[Mapping[str, Backlog]]]] = field(default_factory=list)


@dataclass(slots=True)
class DbFigures:
    """What ``refresh`` read last; ``up`` False when the database did not answer (the figures are then left out)."""

    up: bool = False
    outboxes: dict[str, Backlog] = field(default_factory=dict)
    transcription: Backlog = field(default_factory=Backlog)


class Metrics:
    """The app's registry, its directly observed metrics, and the scrape-time collector."""

    def __init__(self, sources: Sources | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.route_answer_seconds = Histogram(
            "callcenter_route_answer_seconds",
            "FastAGI request parsed to answer acknowledged by Asterisk, by route and outcome "
            "(the CC_ACTION answered, or fail_open when the server answered the fallback queue itself)",
            ["route", "outcome"],
            buckets=ROUTE_ANSWER_BUCKETS_S,
            registry=self.registry,
        )
        self.calls_ended = Counter(
            "callcenter_calls_ended_total", "Calls ended, by outcome (CallEnded.outcome)", ["outcome"],
            registry=self.registry,
        )
        # Children made up front: a call's end is then one dict lookup and an increment, and every outcome is a
        # series from the start (rate() needs the zero).
        self._calls_by_outcome = {outcome.value: self.calls_ended.labels(outcome.value) for outcome in CallOutcome}
        self._route_children: dict[tuple[str, str], Any] = {}
        self.state = StateCollector(sources or Sources())
        self.registry.register(self.state)

    def route_answered(self, route: str, outcome: str, seconds: float) -> None:
        """FastAgiServer.on_answered: one dict lookup and an observe (labels() takes a lock and checks the label
        values every time, several times the cost). Routes and outcomes are few, so the dict stays small."""
        child = self._route_children.get((route, outcome))
        if child is None:
            child = self._route_children[(route, outcome)] = self.route_answer_seconds.labels(route, outcome)
        child.observe(seconds)

    def on_call_ended(self, event: object) -> None:
        """Bus handler (subscribed for CallEnded)."""
        if isinstance(event, CallEnded):
            self._calls_by_outcome[event.outcome.value].inc()

    async def refresh(self, db: Database) -> None:
        """The database aggregates of this scrape (a few small queries on indexed columns)."""
        self.state.db = await read_db_figures(db, self.state.sources.db_backlogs)


async def _backlog(session: Any, model: Any, pending: Iterable[Any], now: datetime) -> Backlog:
    count, oldest = (await session.execute(
        select(func.count(), func.min(model.created_at)).where(model.status.in_(list(pending)))
    )).one()
    return Backlog(depth=int(count), oldest_age_s=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)


async def read_db_figures(
    db: Database, more: Iterable[Callable[[Database], Awaitable[Mapping[str, Backlog]]]] = ()
) -> DbFigures:
    now = utcnow()
    try:
        async with asyncio.timeout(DB_FIGURES_TIMEOUT_S), db.read_session() as session:
            outboxes = {
                "webhook": await _backlog(session, WebhookDelivery, [DeliveryStatus.PENDING], now),
                "mail": await _backlog(session, MailMessage, [DeliveryStatus.PENDING], now),
            }
            transcription = await _backlog(session, TranscriptionJob, [JobStatus.QUEUED, JobStatus.LEASED], now)
        async with asyncio.timeout(DB_FIGURES_TIMEOUT_S):
            for reader in more:
                outboxes.update(await reader(db))
    except Exception as exc:  # a scrape still answers with everything else; the gauge says the database did not
        log.warning("metrics: database figures not read (%s: %s)", exc.__class__.__name__, exc)
        return DbFigures(up=False)
    return DbFigures(up=True, outboxes=outboxes, transcription=transcription)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


class StateCollector(Collector):
    """Reads the components' own state at scrape time: nothing of it costs anything between scrapes."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self.db = DbFigures()

    def describe(self) -> list[Metric]:
        return []  # the families depend on what is running; describe nothing rather than scrape in describe

    def collect(self) -> Iterator[Metric]:
        yield from self._ami()
        yield from self._agi_and_routing()
        yield from self._backlogs()
        sockets = GaugeMetricFamily("callcenter_websocket_clients", "Open WebSockets by endpoint", labels=["endpoint"])
        for endpoint, count in sorted(self.sources.websockets().items()):
            sockets.add_metric([endpoint], count)
        yield sockets

    def _ami(self) -> Iterator[Metric]:
        connection = self.sources.ami()
        if connection is None:
            return
        stats = connection.stats
        yield _gauge("callcenter_ami_up", "1 while the AMI session is live", int(connection.state is AmiState.LIVE))
        yield _gauge("callcenter_ami_queue_depth", "AMI events received, not yet handled by the one ordered consumer",
                     connection.queue_depth())
        yield _gauge("callcenter_ami_queue_depth_max", "Deepest the AMI event queue has been since start",
                     stats.max_queue_depth)
        yield _gauge("callcenter_ami_lag_seconds", "Age of the oldest AMI event not yet handled (0: caught up)",
                     connection.backlog_age_s())
        yield _gauge("callcenter_ami_last_lag_seconds", "Arrival to handling of the last AMI event handled",
                     stats.lag_s)
        yield _counter("callcenter_ami_messages", "AMI messages received", stats.messages)
        yield _counter("callcenter_ami_malformed_frames", "AMI frames that could not be parsed", stats.malformed_frames)
        yield _counter("callcenter_ami_reading_paused", "Times reading was paused for a full queue", stats.reading_paused)
        yield _counter("callcenter_ami_sessions", "AMI sessions that went live", stats.sessions)
        yield _counter("callcenter_ami_reconnects", "AMI sessions after the first one (reconnects)",
                       max(0, stats.sessions - 1))
        yield _counter("callcenter_ami_auth_failures", "AMI logins refused", stats.auth_failures)
        yield _gauge("callcenter_ami_missing_permissions", "AMI actions this user may not send",
                     len(stats.missing_permissions))
        yield _gauge("callcenter_ami_resync_errors", "Resync sources that answered an error at the last resync",
                     len(stats.resync_errors))
        keeper, recovery = self.sources.queue_keeper(), self.sources.gap_recovery()
        if keeper is not None:
            yield _counter("callcenter_queue_members_reapplied", "Queue logins/pauses re-applied after a resync",
                           keeper.reapplied)
            yield _counter("callcenter_queue_members_reapply_failed", "Queue logins/pauses that failed to re-apply",
                           keeper.failed)
        if recovery is not None:
            yield _gauge("callcenter_calls_journalled_while_ami_down", "Calls seen by FastAGI while AMI is down",
                         len(recovery.journal))
            yield _counter("callcenter_calls_recovered_after_ami_outage", "Calls written from the journal and spool",
                           recovery.recovered)

    def _agi_and_routing(self) -> Iterator[Metric]:
        agi, routing = self.sources.agi(), self.sources.routing()
        reasons: dict[str, int] = {}
        if agi is not None:
            for name, value in dataclasses.asdict(agi.counters).items():
                yield _counter(f"callcenter_agi_{name}", f"FastAGI {name.replace('_', ' ')}", value)
            for reason, count in agi.fail_open_reasons.items():
                reasons[_reason_label(reason)] = reasons.get(_reason_label(reason), 0) + count
        if routing is not None:
            for reason, label in ROUTING_FAIL_OPEN.items():
                reasons[label] = routing.reason_counts.get(reason, 0)
            for reason, count in routing.crm_skipped.items():
                reasons[reason] = count
        if agi is None and routing is None:
            return
        family = CounterMetricFamily(
            "callcenter_route_fail_open",
            "Route answers that fell back: timeout / error / malformed / unknown-route (FastAGI answered the default "
            "queue), state-error / policy-error (routing queued in the team queue: Redis or the policy failed), "
            "crm-timeout / crm-error (routed without the caller's CRM facts)",
            labels=["reason"],
        )
        for reason, count in sorted(reasons.items()):
            family.add_metric([reason], count)
        yield family

    def _backlogs(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("callcenter_outbox_depth", "Items waiting in an outbox, by consumer",
                                  labels=["consumer"])
        age = GaugeMetricFamily("callcenter_outbox_oldest_age_seconds",
                                "Age of the oldest item waiting in an outbox, by consumer (0: empty)",
                                labels=["consumer"])
        backlogs = dict(self.db.outboxes)
        fanout = self.sources.fanout()
        if fanout is not None:
            backlogs["redis_fanout"] = Backlog(depth=fanout.outbox.qsize(), oldest_age_s=fanout.oldest_age_s())
            yield _counter("callcenter_redis_fanout_dropped", "Events not shared: the fan-out queue was full",
                           fanout.dropped)
        for consumer, backlog in sorted(backlogs.items()):
            depth.add_metric([consumer], backlog.depth)
            age.add_metric([consumer], backlog.oldest_age_s)
        yield depth
        yield age
        yield _gauge("callcenter_metrics_database_up", "1 when this scrape read the database figures", int(self.db.up))
        if self.db.up:
            jobs = self.db.transcription
            yield _gauge("callcenter_transcription_queue_depth", "Transcription jobs queued or being worked", jobs.depth)
            yield _gauge("callcenter_transcription_oldest_age_seconds",
                         "Age of the oldest transcription job queued or being worked (0: none)", jobs.oldest_age_s)


class WorkerMetrics:
    """The transcription worker's registry. ``callcenter worker`` is a process of its own without the API, so its
    figures are served by a listener of its own on loopback (``serve_worker_metrics``); the queue's depth is the
    service's to tell (callcenter_transcription_queue_depth), read from the jobs table."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.realtime_factor = Histogram(
            "callcenter_transcription_realtime_factor",
            "Seconds spent transcribing a take per second of its audio (below 1: faster than real time)",
            buckets=REALTIME_FACTOR_BUCKETS, registry=self.registry,
        )
        self.audio_seconds = Counter("callcenter_transcription_audio_seconds", "Audio transcribed",
                                     registry=self.registry)
        self.processing_seconds = Counter("callcenter_transcription_processing_seconds",
                                          "Time spent transcribing", registry=self.registry)
        self.jobs_finished = Counter("callcenter_transcription_jobs_finished", "Jobs this worker finished, by result "
                                     "(done, failed, dead, lost_leases, cancelled)", ["result"], registry=self.registry)

    def transcribed(self, *, audio_s: float, processing_s: float) -> None:
        self.audio_seconds.inc(audio_s)
        self.processing_seconds.inc(processing_s)
        if audio_s > 0:
            self.realtime_factor.observe(processing_s / audio_s)

    def finished(self, result: str) -> None:
        self.jobs_finished.labels(result).inc()


def serve_worker_metrics(metrics: WorkerMetrics, *, host: str, port: int) -> WSGIServer:
    """prometheus_client's own HTTP listener (a thread) for the worker's registry; ``shutdown()`` stops it.

    No token is asked there: bind it to loopback (the default) and let a local Prometheus or agent scrape it."""
    server, _thread = start_http_server(port, addr=host, registry=metrics.registry)
    return server

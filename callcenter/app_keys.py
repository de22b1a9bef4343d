"""The aiohttp application keys shared by the composition root (callcenter.app) and the feature modules.

They live apart from callcenter.app so that callcenter/api/*, the desk-phone wiring and the tests import them at module
top: app.py imports the API modules, so keys defined in app.py forced those modules into lazy imports (an import circle).
This module imports only the types the keys carry, never callcenter.app or callcenter.api.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callcenter.ami.agi import FastAgiServer
from callcenter.automation.engine import Automation
from callcenter.calls.live import LiveCalls
from callcenter.config import Settings
from callcenter.crm_bridge import CrmBridge
from callcenter.events import InProcessBus
from callcenter.mail.sender import MailSender
from callcenter.metrics import Metrics
from callcenter.outbox.writer import OutboxWriter
from callcenter.queues.fallback import FallbackQueueCheck
from callcenter.queues.keeper import MembershipKeeper
from callcenter.recovery.service import GapRecovery
from callcenter.redis_bus import RedisFanout
from callcenter.reports.agent_log import AgentLog
from callcenter.reports.scheduler import ReportScheduler
from callcenter.routing.rules import RoutingRules
from callcenter.routing.runtime import RoutingRuntime
from callcenter.wallboard.feed import FiguresFeed
from callcenter.wallboard.hub import Hub
from crm_core.db import Database
from crm_core.records import PhoneRules

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
REDIS = web.AppKey("redis", Any)
PHONE_RULES = web.AppKey("phone_rules", PhoneRules)
READY = web.AppKey("ready", dict)
OPENAPI = web.AppKey("openapi", dict)
AGI = web.AppKey("agi", FastAgiServer)
AMI = web.AppKey("ami", Any)
BUS = web.AppKey("bus", InProcessBus)
LIVE = web.AppKey("live", LiveCalls)
QUEUE_KEEPER = web.AppKey("queue_keeper", MembershipKeeper)
FALLBACK_CHECK = web.AppKey("fallback_check", FallbackQueueCheck)
GAP_RECOVERY = web.AppKey("gap_recovery", GapRecovery)
CRM_BRIDGE = web.AppKey("crm_bridge", CrmBridge)
AGENT_LOG = web.AppKey("agent_log", AgentLog)
AUTOMATION = web.AppKey("automation", Automation)
HUB = web.AppKey("hub", Hub)
FIGURES_FEED = web.AppKey("figures_feed", FiguresFeed)
ROUTING = web.AppKey("routing", RoutingRuntime)
ROUTING_RULES = web.AppKey("routing_rules", RoutingRules)
WRITE_HOOKS = web.AppKey("write_hooks", list)
MAIL_SENDER = web.AppKey("mail_sender", MailSender)
REPORT_SCHEDULER = web.AppKey("report_scheduler", ReportScheduler)
REDIS_FANOUT = web.AppKey("redis_fanout", RedisFanout)  # while Redis is configured and the fan-out started
METRICS = web.AppKey("metrics", Metrics)  # the app's Prometheus registry (callcenter.metrics_http)
INSTANCE = web.AppKey("instance", str)  # this process's name (callcenter.instance): its decisions, messages, leases
OUTBOX = web.AppKey("outbox", OutboxWriter)  # the call path's facts into the durable outbox
# This process's outbox consumers by name (callcenter.outbox.pipeline CRM_FEED, RECORDING_FEED), when it runs workers.
FEEDS = web.AppKey("feeds", dict)  # dict[str, OutboxConsumer]
WORKER_BUS = web.AppKey("worker_bus", InProcessBus)  # the CRM writer's bus, fed only from the outbox
SINKS = web.AppKey("sinks", dict)  # dict[str, Sinks]: what each consumer feeds, settled before its cursor moves

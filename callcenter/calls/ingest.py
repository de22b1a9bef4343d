"""The AMI ingest pipeline: bytes or header maps -> typed events -> tracker -> publish domain events.

One object owns the counters the operator needs (events, unknown event names, malformed frames, parse errors) so
that replay, the bench and the live connection all count the same way. It is synchronous and does no I/O: the
connection layer calls ``feed_bytes`` (raw socket data) or ``feed_headers`` (a panoramisk ``Message`` works, it is a
case-insensitive mapping) from its single consumer task, keeping the stream order.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from callcenter.ami.events import AmiParseError, is_known_event, parse_event
from callcenter.ami.frames import FrameSplitter
from callcenter.calls.tracker import CallTracker

__all__ = ["AmiIngest", "IngestCounters"]

log = logging.getLogger(__name__)
_MAX_UNKNOWN_NAMES = 256


@dataclass(slots=True)
class IngestCounters:
    frames: int = 0
    responses: int = 0  # frames without an Event header (action responses)
    events: int = 0  # frames with an Event header
    typed_events: int = 0  # events handed to the tracker
    unknown_events: int = 0
    parse_errors: int = 0


class AmiIngest:
    """frames -> typed events -> tracker -> ``publish`` (e.g. ``InProcessBus.publish``)."""

    __slots__ = ("tracker", "splitter", "counters", "unknown_names", "recent_parse_errors", "_publish", "taps")

    def __init__(
        self,
        *,
        tracker: CallTracker,
        publish: Callable[[object], None] | None = None,
        splitter: FrameSplitter | None = None,
    ) -> None:
        self.tracker = tracker
        self.splitter = splitter if splitter is not None else FrameSplitter()
        self.counters = IngestCounters()
        self.unknown_names: collections.Counter[str] = collections.Counter()
        self.recent_parse_errors: collections.deque[str] = collections.deque(maxlen=16)
        self._publish = publish
        # Other followers of the typed stream (the dialer's AttemptFollower), called after the tracker, in order.
        self.taps: list[Callable[[object], None]] = []

    @property
    def malformed_frames(self) -> int:
        return self.splitter.malformed_count

    def feed_bytes(self, data: bytes) -> None:
        """Raw bytes from the AMI socket (any chunking)."""
        counters = self.counters
        frames = self.splitter.feed(data)
        counters.frames += len(frames)
        handle = self._handle
        for headers in frames:
            handle(headers)

    def feed_headers(self, headers: Mapping[str, str]) -> None:
        """One already-split AMI message."""
        self.counters.frames += 1
        self._handle(headers)

    def _handle(self, headers: Mapping[str, str]) -> None:
        counters = self.counters
        name = headers.get("Event")
        if name is None:
            counters.responses += 1
            return
        counters.events += 1
        try:
            event = parse_event(headers)
        except AmiParseError as exc:
            counters.parse_errors += 1
            self.recent_parse_errors.append(str(exc))
            log.warning("%s", exc)
            return
        if event is None:
            if not is_known_event(name):
                counters.unknown_events += 1
                if name in self.unknown_names or len(self.unknown_names) < _MAX_UNKNOWN_NAMES:
                    self.unknown_names[name[:64]] += 1
            return
        counters.typed_events += 1
        emitted = self.tracker.feed(event)
        if emitted and self._publish is not None:
            publish = self._publish
            for domain_event in emitted:
                publish(domain_event)
        for tap in self.taps:
            try:
                tap(event)
            except Exception:  # a follower's bug must not stop the live model's stream
                log.exception("AMI tap %r failed on %s", tap, name)

    def reset_connection(self) -> None:
        """A new TCP connection starts: drop any partial frame (the tracker keeps its state; resync follows)."""
        self.splitter.reset()

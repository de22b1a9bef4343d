"""Incremental AMI byte-stream splitter: bytes in, header mappings out.

AMI is line based (CRLF) and a message ends with an empty line. The first line of a connection is the banner
``Asterisk Call Manager/x.y.z`` with no blank line after it. This module knows nothing about event types: it only
turns bytes into ``dict[str, str]`` header maps, so that the typed parser (``callcenter.ami.events``) is the single
place that interprets them.

Robustness rules (the stream comes from the network, so nothing here may raise on bad input):

* memory is bounded: at most ``max_frame_bytes`` of an unfinished frame are kept; a longer frame is dropped, counted
  as malformed, and the splitter skips to the next blank line;
* a line without ``:`` makes its whole frame malformed (skipped, counted, a truncated copy kept for the log);
* bytes are decoded as UTF-8 with replacement, so odd caller-ID names never stop the stream.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Final

__all__ = ["BANNER_PREFIX", "FrameSplitter", "MalformedFrame", "split_headers"]

BANNER_PREFIX: Final = "Asterisk Call Manager/"
_BANNER_PREFIX_B: Final = BANNER_PREFIX.encode()
_SEP: Final = b"\r\n\r\n"
_EOL: Final = "\r\n"
DEFAULT_MAX_FRAME_BYTES: Final = 64 * 1024
# Enough of a bad frame to recognise it in a log line, never the whole (possibly huge) thing.
RAW_KEEP_BYTES: Final = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class MalformedFrame:
    """A frame we refused, kept (truncated) so the connection layer can log what Asterisk sent."""

    reason: str
    raw: bytes


def split_headers(text: str) -> dict[str, str] | str:
    """Split one frame's text into headers; return the reason string when a line has no ``:``.

    The value starts after the first ``": "`` (values such as ``AppData: agi://127.0.0.1:4573/x`` contain colons).
    A duplicated header keeps its last value; AMI events we use never repeat a header.
    """
    lines = text.split(_EOL)
    try:
        # Fast path: every line has ": ". dict() raises ValueError on the first line that does not split in two.
        return dict([line.split(": ", 1) for line in lines])
    except ValueError:
        pass
    headers: dict[str, str] = {}
    for line in lines:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon:
            return "line without ':'"
        headers[name] = value[1:] if value.startswith(" ") else value
    return headers


class FrameSplitter:
    """Feed raw bytes as they arrive; get complete frames (header dicts) back, in order.

    ``reset()`` must be called when a new TCP connection starts (a new banner follows). A banner met in the middle of
    a stream (for example two captures concatenated) is also recognised and stripped.
    """

    __slots__ = (
        "_buf",
        "_skipping",
        "_expect_banner",
        "max_frame_bytes",
        "malformed_count",
        "frames_count",
        "banners",
        "recent_malformed",
    )

    def __init__(self, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES, keep_recent_malformed: int = 16) -> None:
        if max_frame_bytes < 64:
            raise ValueError("max_frame_bytes must be at least 64")
        self.max_frame_bytes = max_frame_bytes
        self._buf = b""
        # True while discarding the tail of an oversized frame until the next blank line.
        self._skipping = False
        self._expect_banner = True
        self.malformed_count = 0
        self.frames_count = 0
        self.banners: list[str] = []
        self.recent_malformed: collections.deque[MalformedFrame] = collections.deque(maxlen=keep_recent_malformed)

    # -- public API -------------------------------------------------------------------------------------------------

    @property
    def buffered_bytes(self) -> int:
        """Bytes of an unfinished frame currently held (never more than ``max_frame_bytes``)."""
        return len(self._buf)

    @property
    def version(self) -> str | None:
        """AMI protocol version from the last banner seen (``9.0.0``), if any."""
        return self.banners[-1].partition("/")[2].strip() if self.banners else None

    def reset(self) -> None:
        """Forget any partial frame: call when the TCP connection is replaced."""
        self._buf = b""
        self._skipping = False
        self._expect_banner = True

    def feed(self, data: bytes) -> list[dict[str, str]]:
        """Consume ``data`` and return the frames it completed (possibly none)."""
        if not data:
            return []
        buf = self._buf + data if self._buf else bytes(data)
        if self._skipping:
            buf = self._skip_to_boundary(buf)
            if buf is None:
                return []
        if self._expect_banner:
            buf = self._strip_banner(buf)
            if buf is None:
                return []
        parts = buf.split(_SEP)
        tail = parts.pop()
        out: list[dict[str, str]] = []
        limit = self.max_frame_bytes
        for part in parts:
            if len(part) > limit:
                self._malformed("frame larger than limit", part)
                continue
            headers = self._parse_part(part)
            if headers is not None:
                out.append(headers)
        if len(tail) > limit:
            # An unfinished frame already exceeds the limit: drop it now (bounded memory) and skip to its end.
            self._malformed("frame larger than limit", tail)
            self._skipping = True
            # Keep the last 3 bytes: the blank-line separator may straddle this chunk and the next.
            tail = tail[-3:]
        self._buf = tail
        self.frames_count += len(out)
        return out

    # -- internals --------------------------------------------------------------------------------------------------

    def _skip_to_boundary(self, buf: bytes) -> bytes | None:
        idx = buf.find(_SEP)
        if idx < 0:
            self._buf = buf[-3:]
            return None
        self._skipping = False
        return buf[idx + len(_SEP) :]

    def _strip_banner(self, buf: bytes) -> bytes | None:
        if len(buf) < len(_BANNER_PREFIX_B) and _BANNER_PREFIX_B.startswith(buf):
            self._buf = buf  # could still become a banner; wait for more bytes
            return None
        self._expect_banner = False
        if not buf.startswith(_BANNER_PREFIX_B):
            return buf
        eol = buf.find(b"\r\n")
        if eol < 0:
            if len(buf) > self.max_frame_bytes:
                self._malformed("banner line larger than limit", buf)
                self._buf = b""
                return None
            self._expect_banner = True
            self._buf = buf
            return None
        self.banners.append(buf[:eol].decode("utf-8", "replace"))
        return buf[eol + 2 :]

    def _parse_part(self, part: bytes) -> dict[str, str] | None:
        if not part:
            return None  # an extra blank line between messages: tolerated, not an error
        text = part.decode("utf-8", "replace")
        if text[0] in "\r\n" or text[-1] in "\r\n":
            text = text.strip("\r\n")
            if not text:
                return None
        if text.startswith(BANNER_PREFIX):
            # A new connection's banner inside one stream (concatenated captures): strip it like at the start.
            banner, _, text = text.partition(_EOL)
            self.banners.append(banner)
            if not text:
                return None
        headers = split_headers(text)
        if isinstance(headers, str):
            self._malformed(headers, part)
            return None
        return headers

    def _malformed(self, reason: str, raw: bytes) -> None:
        self.malformed_count += 1
        self.recent_malformed.append(MalformedFrame(reason=reason, raw=bytes(raw[:RAW_KEEP_BYTES])))

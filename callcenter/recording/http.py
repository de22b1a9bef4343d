"""Recording and transcript routes: playback/download with Range, transcripts, search, legal hold, erasure,
retention.

Who sees a call's recording follows who sees its activity: an agent their own calls (the agent who took it), a
supervisor their team's (and unassigned calls), an admin all; a call without an activity is admin-only. A call one
may not see answers 404, like every other record, so its existence does not leak. Legal holds, erasures and
retention are admin actions and are audited.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any, BinaryIO, Callable

from aiohttp import web
from pydantic import BaseModel, Field
from sqlalchemy import Select, false, func, literal_column, select, table, text, column
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.api.framework import Api, Call
from callcenter.recording.service import RecordingService
from callcenter.recording.storage import read_range
from crm_core.access import activity_filter
from crm_core.errors import Forbidden, Invalid, NotFound
from crm_core.models import Activity, AuditEntry, Role, Team
from crm_core.paging import MAX_LIMIT, Page
from crm_core.recording_models import (
    PG_TS_CONFIG,
    SQLITE_FTS_TABLE,
    Recording,
    RecordingRetention,
    RecordingStatus,
    Transcript,
)
from crm_core.schemas import ActivityOut, In
from crm_core.types import utcnow

__all__ = ["RECORDINGS", "RangeNotSatisfiable", "api", "parse_range"]

api = Api()
V1 = "/api/v1"
RECORDINGS = web.AppKey("recordings", RecordingService)
TAG = "recordings"
_PLAYABLE = (RecordingStatus.STORED, RecordingStatus.TRUNCATED, RecordingStatus.EMPTY)


# -- Range (RFC 9110 section 14), pure ------------------------------------------------------------------------------

class RangeNotSatisfiable(Exception):
    pass


_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range [start, end] (inclusive) to send, None for the whole file, or RangeNotSatisfiable.

    Other units and multi-range requests are ignored (the whole file is sent, which RFC 9110 allows): players ask
    for one range at a time. ``a-`` runs to the end, ``-n`` is the last n bytes, an end past the file is clamped.
    """
    if header is None:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    if "," in spec:
        return None
    match = _RANGE.match(spec)
    if match is None or (not match[1] and not match[2]):
        raise RangeNotSatisfiable(f"malformed range {header!r}")
    if not match[1]:  # suffix: the last n bytes
        n = int(match[2])
        if n == 0 or size == 0:
            raise RangeNotSatisfiable("empty suffix range")
        return max(size - n, 0), size - 1
    start = int(match[1])
    end = int(match[2]) if match[2] else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable(f"range {start}-{match[2]} outside 0-{size - 1}")
    return start, min(end, size - 1)


class _StoredFileResponse(web.StreamResponse):
    """Streams [start, end] of a stored file. Written in ``write_eof``, i.e. after the handler returned and its
    database transaction closed, so a slow download never holds a database connection (or SQLite's write lock)."""

    def __init__(self, *, opener: Callable[[], BinaryIO], start: int, end: int, status: int,
                 headers: dict[str, str]) -> None:
        super().__init__(status=status, headers=headers)
        self.content_length = end - start + 1
        self._range_opener = opener
        self._range_start = start
        self._range_end = end

    async def write_eof(self, data: bytes = b"") -> None:
        if self._range_opener is not None:
            opener, self._range_opener = self._range_opener, None  # type: ignore[assignment]
            reader = await asyncio.to_thread(opener)
            try:
                chunks = read_range(reader, start=self._range_start, end_inclusive=self._range_end)
                while True:
                    chunk = await asyncio.to_thread(next, chunks, None)
                    if chunk is None:
                        break
                    await self.write(chunk)
            finally:
                reader.close()
        await super().write_eof(data)


# -- schemas ------------------------------------------------------------------------------------------------------

class RecordingOut(BaseModel):
    id: int
    call_id: str
    leg: str
    take: int
    status: str
    reason: str | None
    duration_s: float | None
    size_bytes: int | None
    sha256: str | None
    source_format: str | None
    channels: int | None
    sample_rate_hz: int | None
    legal_hold: bool
    legal_hold_reason: str | None
    created_at: datetime
    deleted_at: datetime | None
    audio_url: str | None


class TranscriptOut(BaseModel):
    id: int
    call_id: str
    recording_id: int
    activity_id: int | None
    language: str | None
    model: str
    duration_s: float
    metrics: dict[str, Any]
    conversation: list[dict[str, Any]]
    text: str
    created_at: datetime


class CallRecordOut(BaseModel):
    activity: ActivityOut | None
    recordings: list[RecordingOut]
    transcripts: list[TranscriptOut]


class SearchHit(BaseModel):
    transcript_id: int
    call_id: str
    activity_id: int | None
    started_at: datetime | None
    snippet: str


class LegalHoldIn(In):
    hold: bool
    reason: str = Field(default="", max_length=500)


class EraseIn(In):
    reason: str = Field(min_length=3, max_length=500)


class EraseNumberIn(In):
    phone: str = Field(min_length=3, max_length=64)
    reason: str = Field(min_length=3, max_length=500)


class EraseOut(BaseModel):
    call_id: str
    recordings: int
    transcripts: int


class RetentionIn(In):
    retention_days: int = Field(ge=0, le=36_500)


class RetentionOut(BaseModel):
    team_id: int
    retention_days: int
    default: bool


def _recording_out(row: Recording) -> RecordingOut:
    playable = row.status in _PLAYABLE and row.storage_key is not None
    return RecordingOut(
        id=row.id, call_id=row.call_id, leg=row.leg, take=row.take, status=row.status.value, reason=row.reason,
        duration_s=row.duration_s, size_bytes=row.size_bytes, sha256=row.sha256, source_format=row.source_format,
        channels=row.channels, sample_rate_hz=row.sample_rate_hz, legal_hold=row.legal_hold,
        legal_hold_reason=row.legal_hold_reason, created_at=row.created_at, deleted_at=row.deleted_at,
        audio_url=f"{V1}/recordings/{row.id}/audio" if playable else None,
    )


def _transcript_out(row: Transcript) -> TranscriptOut:
    return TranscriptOut.model_validate(row, from_attributes=True)


# -- access -------------------------------------------------------------------------------------------------------

def _service(call: Call) -> RecordingService:
    return call.request.app[RECORDINGS]


def _call_id(call: Call) -> str:
    call_id = call.request.match_info["call_id"]
    if not 0 < len(call_id) <= 64:
        raise Invalid("bad call id", field="call_id")
    return call_id


async def _visible_activity(call: Call, call_id: str) -> Activity | None:
    """The call's activity if the principal may see the call; NotFound otherwise (admins see orphans: None)."""
    session: AsyncSession = call.session
    activity = await session.scalar(select(Activity).where(Activity.call_id == call_id))
    if call.principal.is_admin:
        return activity
    # A campaign manager reads its team's records, not what was said on its calls: recordings and transcripts are
    # for the agents on the call, their supervisors and admins.
    if activity is not None and call.principal.role is not Role.CAMPAIGN_MANAGER:
        visible = await session.scalar(
            select(Activity.id).where(Activity.id == activity.id, activity_filter(call.principal))
        )
        if visible is not None:
            return activity
    raise NotFound(f"call {call_id} not found", field="call_id")


def _require_admin(call: Call, what: str) -> None:
    if not call.principal.is_admin:
        raise Forbidden(f"only an admin may {what}")


# -- routes -------------------------------------------------------------------------------------------------------

@api.route("GET", V1 + "/calls/{call_id}", summary="A call: its activity, recordings and transcripts", response=CallRecordOut, tag=TAG)
async def get_call(call: Call) -> Any:
    call_id = _call_id(call)
    activity = await _visible_activity(call, call_id)
    recordings = list(await call.session.scalars(
        select(Recording).where(Recording.call_id == call_id).order_by(Recording.take, Recording.id)))
    transcripts = list(await call.session.scalars(
        select(Transcript).where(Transcript.call_id == call_id).order_by(Transcript.id)))
    if activity is None and not recordings:
        raise NotFound(f"call {call_id} not found", field="call_id")
    return CallRecordOut(
        activity=ActivityOut.model_validate(activity) if activity else None,
        recordings=[_recording_out(r) for r in recordings],
        transcripts=[_transcript_out(t) for t in transcripts],
    )


@api.route("GET", V1 + "/calls/{call_id}/recordings", summary="A call's recording files (status, checksum, audio URL)", response=RecordingOut, many=True, tag=TAG)
async def list_recordings(call: Call) -> Any:
    call_id = _call_id(call)
    await _visible_activity(call, call_id)
    rows = list(await call.session.scalars(
        select(Recording).where(Recording.call_id == call_id).order_by(Recording.take, Recording.id)))
    if not rows:
        raise NotFound(f"call {call_id} has no recording", field="call_id")
    return [_recording_out(r) for r in rows]


@api.route("GET", V1 + "/recordings/{id}/audio", summary="Play or download a recording (WAV; Range requests; ?download=1)", tag=TAG)
async def recording_audio(call: Call) -> Any:
    row = await call.session.get(Recording, call.path_int("id"))
    if row is None:
        raise NotFound("recording not found", field="id")
    await _visible_activity(call, row.call_id)
    if row.status not in _PLAYABLE or row.storage_key is None:
        raise NotFound(f"recording {row.id} has no stored audio ({row.status.value})", field="id")
    storage = _service(call).storage
    key = row.storage_key
    try:
        size = await asyncio.to_thread(storage.size, key)
    except FileNotFoundError:
        raise NotFound(f"recording {row.id}: the stored file is gone", field="id") from None
    etag = f'"{row.sha256}"' if row.sha256 else None
    headers = {"Accept-Ranges": "bytes", "Content-Type": "audio/wav", "Cache-Control": "private, no-store"}
    if etag:
        headers["ETag"] = etag
    if call.query_bool("download"):
        headers["Content-Disposition"] = f'attachment; filename="{row.call_id}-{row.leg}.wav"'
    requested = call.request.headers.get("Range")
    if_range = call.request.headers.get("If-Range")
    if requested is not None and if_range is not None and if_range != etag:
        requested = None  # the client's copy is of another version: send the whole file
    try:
        byte_range = parse_range(requested, size)
    except RangeNotSatisfiable:
        return web.Response(status=416, headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"})
    if byte_range is None:
        start, end, status = 0, size - 1, 200
    else:
        (start, end), status = byte_range, 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if size == 0:
        return web.Response(status=200, headers=headers, body=b"")
    return _StoredFileResponse(opener=lambda: storage.open(key), start=start, end=end, status=status, headers=headers)


@api.route("GET", V1 + "/calls/{call_id}/transcript", summary="A call's transcript (the first take; see /calls/{call_id} for all)", response=TranscriptOut, tag=TAG)
async def call_transcript(call: Call) -> Any:
    call_id = _call_id(call)
    await _visible_activity(call, call_id)
    row = await call.session.scalar(select(Transcript).where(Transcript.call_id == call_id).order_by(Transcript.id).limit(1))
    if row is None:
        raise NotFound(f"call {call_id} has no transcript (yet)", field="call_id")
    return _transcript_out(row)


_WORD = re.compile(r"\w+\*?", re.UNICODE)


def fts5_query(raw: str) -> str:
    """User words -> an FTS5 query that cannot be a syntax error: each word quoted (AND), ``word*`` a prefix."""
    terms = []
    for token in _WORD.findall(raw):
        prefix = token.endswith("*")
        word = token.rstrip("*")
        if word:
            terms.append(f'"{word}"' + ("*" if prefix else ""))
    return " ".join(terms)


def _search_query(call: Call, q: str, dialect: str) -> Select[Any]:
    base = select(Transcript.id, Transcript.call_id, Transcript.activity_id, Activity.started_at)
    if dialect == "postgresql":
        query = func.websearch_to_tsquery(PG_TS_CONFIG, q)
        snippet = func.ts_headline(PG_TS_CONFIG, Transcript.text, query,
                                   "StartSel=[, StopSel=], MaxWords=18, MinWords=6, MaxFragments=2")
        stmt = (base.add_columns(snippet.label("snippet"))
                .where(Transcript.search_vector.op("@@")(query))
                .order_by(func.ts_rank(Transcript.search_vector, query).desc(), Transcript.id.desc()))
    else:
        match = fts5_query(q)
        if not match:
            raise Invalid("the search needs at least one word", field="q")
        fts = table(SQLITE_FTS_TABLE, column("rowid"))
        stmt = (base.add_columns(literal_column(f"snippet({SQLITE_FTS_TABLE}, 0, '[', ']', '…', 12)").label("snippet"))
                .select_from(fts).join(Transcript, Transcript.id == fts.c.rowid)
                .where(text(f"{SQLITE_FTS_TABLE} MATCH :match").bindparams(match=match))
                .order_by(literal_column(f"bm25({SQLITE_FTS_TABLE})"), Transcript.id.desc()))
    if call.principal.is_admin:
        return stmt.outerjoin(Activity, Activity.call_id == Transcript.call_id)
    joined = stmt.join(Activity, Activity.call_id == Transcript.call_id)
    if call.principal.role is Role.CAMPAIGN_MANAGER:  # no transcripts (see _visible_activity)
        return joined.where(false())
    return joined.where(activity_filter(call.principal))


@api.route("GET", V1 + "/transcripts/search", summary="Full-text search in the transcripts one may see", response=SearchHit, query=("q", "limit", "offset"), query_schemas={"q": {"type": "string", "maxLength": 300}}, tag=TAG)
async def search_transcripts(call: Call) -> Any:
    q = (call.query_str("q", max_length=300) or "").strip()
    if not _WORD.search(q):
        raise Invalid("the search needs at least one word", field="q")
    limit, offset = call.page
    stmt = _search_query(call, q, call.session.bind.dialect.name)
    total = await call.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = (await call.session.execute(stmt.limit(min(limit, MAX_LIMIT)).offset(offset))).all()
    items = [SearchHit(transcript_id=r.id, call_id=r.call_id, activity_id=r.activity_id, started_at=r.started_at,
                       snippet=r.snippet or "") for r in rows]
    return Page(items=items, total=total or 0, limit=limit, offset=offset)


@api.route("GET", V1 + "/transcripts/{id}", summary="One transcript: speaker turns with word timestamps, call metrics", response=TranscriptOut, tag=TAG)
async def get_transcript(call: Call) -> Any:
    row = await call.session.get(Transcript, call.path_int("id"))
    if row is None:
        raise NotFound("transcript not found", field="id")
    await _visible_activity(call, row.call_id)
    return _transcript_out(row)


@api.route("PUT", V1 + "/calls/{call_id}/recordings/legal-hold", summary="Put a call's recordings under legal hold (or release them); admin", body=LegalHoldIn, response=RecordingOut, many=True, tag=TAG)
async def legal_hold(call: Call) -> Any:
    _require_admin(call, "change a legal hold")
    call_id = _call_id(call)
    body: LegalHoldIn = call.body
    await _service(call).set_legal_hold(call.session, call_id=call_id, hold=body.hold, reason=body.reason or None,
                                        actor_id=call.principal.user_id)
    rows = await call.session.scalars(select(Recording).where(Recording.call_id == call_id).order_by(Recording.id))
    return [_recording_out(r) for r in rows]


@api.route("POST", V1 + "/calls/{call_id}/recordings/erase", summary="Erase a call's recordings, transcripts and search entries (GDPR); admin", body=EraseIn, response=EraseOut, tag=TAG)
async def erase_call(call: Call) -> Any:
    _require_admin(call, "erase recordings")
    service = _service(call)
    plan = await service.erase_in(call.session, call_id=_call_id(call), reason=call.body.reason,
                                  actor_id=call.principal.user_id)
    # The files go once the erasure is committed (a failed commit must not have deleted them).
    call.after_commit.append(lambda: service.spawn(service.finish_erase(plan)))
    return EraseOut(call_id=plan.call_id, recordings=plan.recordings, transcripts=plan.transcripts)


@api.route("POST", V1 + "/recordings/erase-by-number", summary="Erase every recorded call with a phone number (data subject request); admin", body=EraseNumberIn, response=EraseOut, many=True, tag=TAG)
async def erase_number(call: Call) -> Any:
    from crm_core.phones import try_normalize

    _require_admin(call, "erase recordings")
    body: EraseNumberIn = call.body
    number = try_normalize(body.phone, region=call.rules.region)
    if number is None:
        raise Invalid("not a phone number", field="phone")
    service = _service(call)
    call_ids = list(await call.session.scalars(
        select(Recording.call_id).distinct().join(Activity, Activity.call_id == Recording.call_id)
        .where((Activity.from_e164 == number.e164) | (Activity.to_e164 == number.e164))
        .where(Recording.status != RecordingStatus.DELETED)
    ))
    plans = [await service.erase_in(call.session, call_id=c, reason=body.reason, actor_id=call.principal.user_id)
             for c in sorted(call_ids)]
    for plan in plans:
        call.after_commit.append(lambda plan=plan: service.spawn(service.finish_erase(plan)))
    return [EraseOut(call_id=p.call_id, recordings=p.recordings, transcripts=p.transcripts) for p in plans]


@api.route("GET", V1 + "/teams/{id}/recording-retention", summary="How long a team's recordings are kept", response=RetentionOut, tag=TAG)
async def get_retention(call: Call) -> Any:
    team_id = call.path_int("id")
    if not call.principal.is_admin and call.principal.team_id != team_id:
        raise NotFound(f"team {team_id} not found", field="id")
    if await call.session.get(Team, team_id) is None:
        raise NotFound(f"team {team_id} not found", field="id")
    policy = await call.session.get(RecordingRetention, team_id)
    if policy is None:
        return RetentionOut(team_id=team_id, retention_days=_service(call).settings.retention_days, default=True)
    return RetentionOut(team_id=team_id, retention_days=policy.retention_days, default=False)


@api.route("PUT", V1 + "/teams/{id}/recording-retention", summary="Set how long a team's recordings are kept (0 = forever); admin", body=RetentionIn, response=RetentionOut, tag=TAG)
async def set_retention(call: Call) -> Any:
    _require_admin(call, "change recording retention")
    team_id = call.path_int("id")
    if await call.session.get(Team, team_id) is None:
        raise NotFound(f"team {team_id} not found", field="id")
    days = call.body.retention_days
    policy = await call.session.get(RecordingRetention, team_id)
    old = policy.retention_days if policy else None
    if policy is None:
        call.session.add(RecordingRetention(team_id=team_id, retention_days=days, updated_at=utcnow()))
    else:
        policy.retention_days = days
    call.session.add(AuditEntry(at=utcnow(), actor_id=call.principal.user_id, entity="recording_retention",
                                entity_id=team_id, action="update", changes={"retention_days": [old, days]}))
    return RetentionOut(team_id=team_id, retention_days=days, default=False)

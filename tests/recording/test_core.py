"""Pure core: headers, decoding, resampling, voice activity, metrics, merging, the job state machine, spool paths,
Range parsing and search-query escaping - tables of cases, no I/O."""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from callcenter.recording import jobs
from callcenter.recording.audio import (
    AudioError,
    call_metrics,
    decode_pcm,
    frame_activity,
    info_for_headerless,
    parse_wav_header,
    quiet_cut_points,
    resample,
    wav_header,
)
from callcenter.recording.http import RangeNotSatisfiable, fts5_query, parse_range
from callcenter.recording.jobs import JobView, RetryPolicy
from callcenter.recording.spool import PathRefused, plan_files, resolve_spool_path
from callcenter.recording.transcript import (
    AGENT,
    CUSTOMER,
    Segment,
    Word,
    conversation_text,
    merge_channels,
    split_at_pauses,
)
from crm_core.recording_models import JobStatus
from tests.recording.sound import wav_header_claiming

# -- WAV headers ----------------------------------------------------------------------------------------------------

HOUR_BYTES = 3600 * 8000 * 2


def _with_list_chunk(data_bytes: int) -> bytes:
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, 8000, 16000, 2, 16)
    junk = b"LIST" + struct.pack("<I", 5) + b"abcde" + b"\x00"  # odd size: padded to a word
    return b"RIFF" + struct.pack("<I", 0) + b"WAVE" + fmt + junk + b"data" + struct.pack("<I", data_bytes)


@pytest.mark.parametrize(
    ("head", "file_bytes", "expect"),
    [
        (wav_header_claiming(channels=1, rate_hz=8000, data_bytes=16000), 44 + 16000, {"duration_s": 1.0, "truncated": False}),
        # Header says 2 h, the file holds 1 s: a truncated copy (the very long file that is not).
        (wav_header_claiming(channels=1, rate_hz=8000, data_bytes=2 * HOUR_BYTES), 44 + 16000,
         {"duration_s": 1.0, "truncated": True, "declared_duration_s": 7200.0}),
        # Asterisk died before writing the final size: trust the file.
        (wav_header_claiming(channels=1, rate_hz=8000, data_bytes=0), 44 + 8000, {"duration_s": 0.5, "unfinalised": True, "truncated": False}),
        (wav_header_claiming(channels=2, rate_hz=8000, data_bytes=32000), 44 + 32000, {"duration_s": 1.0, "channels": 2}),
        (wav_header_claiming(channels=1, rate_hz=8000, data_bytes=0), 44, {"duration_s": 0.0, "truncated": False}),
        (_with_list_chunk(1600), len(_with_list_chunk(1600)) + 1600, {"duration_s": 0.1}),
        # A trailing odd byte is not a sample.
        (wav_header_claiming(channels=1, rate_hz=8000, data_bytes=16001), 44 + 16001, {"duration_s": 1.0, "truncated": False}),
    ],
)
def test_wav_headers(head: bytes, file_bytes: int, expect: dict) -> None:
    info = parse_wav_header(head, file_bytes=file_bytes)
    assert info.duration_s == pytest.approx(expect["duration_s"])
    if "truncated" in expect:
        assert info.truncated is expect["truncated"]
    if "declared_duration_s" in expect:
        assert info.declared_duration_s == pytest.approx(expect["declared_duration_s"])
        assert "7200.0 s" in info.describe_truncation() and "1.0 s" in info.describe_truncation()
    if "unfinalised" in expect:
        assert info.header_unfinalised
    if "channels" in expect:
        assert info.channels == expect["channels"]


GSM = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 100, b"WAVE", b"fmt ", 16, 0x31, 1, 8000, 1625, 65, 0, b"data", 65)


@pytest.mark.parametrize(
    ("head", "file_bytes", "code", "words"),
    [
        (b"", 0, "empty", "0 bytes"),
        (b"hello, this is not audio at all" * 3, 93, "not_audio", "not a WAV"),
        (b"ID3\x04\x00" + b"\x00" * 60, 65, "not_audio", "not a WAV"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", 16, "not_audio", "fmt"),  # cut off inside the header
        (GSM, 200, "unsupported", "GSM"),
        (wav_header_claiming(channels=1, rate_hz=8000, data_bytes=10)[:36], 36, "not_audio", "data chunk"),
    ],
)
def test_bad_headers_say_what_is_wrong(head: bytes, file_bytes: int, code: str, words: str) -> None:
    with pytest.raises(AudioError) as err:
        parse_wav_header(head, file_bytes=file_bytes)
    assert err.value.code == code and words in err.value.message


def test_headerless_formats_and_the_wav_header_we_add() -> None:
    info = info_for_headerless("raw", file_bytes=432_000, channels=2)
    assert (info.sample_rate_hz, info.channels, info.duration_s) == (8000, 2, 13.5)
    assert info_for_headerless("sln16", file_bytes=32_000, channels=1).duration_s == 1.0
    with pytest.raises(AudioError, match="unknown audio file type .mp3"):
        info_for_headerless("mp3", file_bytes=10, channels=1)
    header = wav_header(channels=2, sample_rate_hz=8000, data_bytes=432_000)
    again = parse_wav_header(header, file_bytes=len(header) + 432_000)
    assert (again.channels, again.duration_s, again.truncated) == (2, 13.5, False)


# -- decoding and resampling ------------------------------------------------------------------------------------------

def test_decoding_g711_and_pcm() -> None:
    # mu-law 0xFF and a-law 0xD5 are the codecs' silence; 0x80 / 0x00 are (near) full scale of opposite signs.
    mu = decode_pcm(bytes([0xFF, 0x7F, 0x80, 0x00]), codec="pcm_mulaw", channels=1)[:, 0]
    assert mu[0] == 0 and mu[1] == 0 and mu[2] > 0.97 and mu[3] < -0.97
    alaw = decode_pcm(bytes([0xD5, 0x55, 0xAA, 0x2A]), codec="pcm_alaw", channels=1)[:, 0]
    assert abs(alaw[0]) < 0.001 and abs(alaw[1]) < 0.001 and alaw[2] > 0.97 and alaw[3] < -0.97
    stereo = decode_pcm(np.array([1000, -1000, 2000, -2000, 7], dtype="<i2").tobytes(), codec="pcm_s16le", channels=2)
    assert stereo.shape == (2, 2)  # the odd trailing sample is not a frame
    assert list(stereo[:, 0] * 32768) == [1000, 2000] and list(stereo[:, 1] * 32768) == [-1000, -2000]


@pytest.mark.parametrize(("from_hz", "to_hz"), [(8000, 16000), (48000, 16000), (16000, 16000), (44100, 16000)])
def test_resampling_keeps_a_tone_and_the_length(from_hz: int, to_hz: int) -> None:
    t = np.arange(from_hz) / from_hz
    out = resample(np.sin(2 * np.pi * 1000 * t).astype(np.float32), from_hz=from_hz, to_hz=to_hz)
    assert len(out) == to_hz and out.dtype == np.float32
    expect = np.sin(2 * np.pi * 1000 * np.arange(to_hz) / to_hz)
    assert np.abs(out[200:-200] - expect[200:-200]).max() < 0.01


def test_resampling_removes_what_the_new_rate_cannot_carry() -> None:
    t = np.arange(48000) / 48000
    out = resample(np.sin(2 * np.pi * 12000 * t).astype(np.float32), from_hz=48000, to_hz=16000)
    assert np.abs(out[200:-200]).max() < 0.01  # 12 kHz would alias to 4 kHz


# -- voice activity, metrics, windows ----------------------------------------------------------------------------

def _speech(on: list[tuple[float, float]], duration_s: float, *, noise: float = 1e-4) -> np.ndarray:
    rng = np.random.default_rng(1)
    x = rng.normal(0, noise, int(duration_s * 8000)).astype(np.float32)
    for a, b in on:
        n = int((b - a) * 8000)
        x[int(a * 8000) : int(a * 8000) + n] += 0.2 * np.sin(2 * np.pi * 220 * np.arange(n) / 8000)
    return x


def test_activity_bridges_short_pauses_and_ignores_clicks() -> None:
    x = _speech([(1.0, 2.0), (2.2, 3.0), (5.0, 5.04)], 6.0)  # 0.2 s pause inside a phrase, a 40 ms click
    act = frame_activity(x, rate_hz=8000)
    assert act[int(1.5 / 0.02)] and act[int(2.1 / 0.02)]  # the pause is bridged
    assert not act[int(5.02 / 0.02)]  # the click is dropped
    assert act.sum() * 0.02 == pytest.approx(2.0, abs=0.1)


def test_activity_on_silence_and_line_noise_is_empty() -> None:
    assert not frame_activity(np.zeros(80000, dtype=np.float32), rate_hz=8000).any()
    assert not frame_activity(_speech([], 10.0, noise=3e-3), rate_hz=8000).any()  # -50 dBFS hiss


@pytest.mark.parametrize(
    ("customer", "agent", "expect"),
    [
        # turns with a 2 s gap, no overlap
        ([(0, 3)], [(5, 8)], {"customer_talk_s": 3, "agent_talk_s": 3, "overtalk_s": 0, "longest_silence_s": 2, "silence_s": 2}),
        # the agent talks over the customer for 1 s
        ([(0, 3)], [(2, 6)], {"customer_talk_s": 3, "agent_talk_s": 4, "overtalk_s": 1, "longest_silence_s": 0}),
        # dead air before the first word is not counted; two gaps, the longest is 4 s
        ([(2, 3), (9, 10)], [(4, 5)], {"longest_silence_s": 4, "silence_s": 5, "duration_s": 10}),
        # nobody spoke: all silence
        ([], [], {"customer_talk_s": 0, "agent_talk_s": 0, "longest_silence_s": 10, "duration_s": 10}),
    ],
)
def test_call_metrics(customer: list, agent: list, expect: dict) -> None:
    def flags(spans: list) -> np.ndarray:
        f = np.zeros(500, dtype=bool)
        for a, b in spans:
            f[int(a / 0.02) : int(b / 0.02)] = True
        return f

    metrics = call_metrics(customer=flags(customer), agent=flags(agent)).as_dict()
    for key, value in expect.items():
        assert metrics[key] == pytest.approx(value, abs=0.03), key


def test_long_channels_are_cut_in_pauses_not_in_words() -> None:
    act = np.ones(int(100 / 0.02), dtype=bool)
    act[int(27 / 0.02) : int(28 / 0.02)] = False  # a pause at 27-28 s
    act[int(55 / 0.02) : int(55.5 / 0.02)] = False
    cuts = quiet_cut_points(act, frame_s=0.02, window_s=30, search_s=10)
    assert [round(c * 0.02, 2) for c in cuts[:2]] == [27.5, 55.24]
    assert all(b - a <= 30 / 0.02 for a, b in zip([0, *cuts], [*cuts, len(act)]))


# -- merging the two sides ---------------------------------------------------------------------------------------------

def _seg(speaker: str, a: float, b: float, text: str) -> Segment:
    return Segment(speaker=speaker, start_s=a, end_s=b, text=text, words=(Word(start_s=a, end_s=b, text=text),))


def test_merge_interleaves_speakers_and_groups_turns() -> None:
    turns = merge_channels({
        CUSTOMER: [_seg(CUSTOMER, 5.0, 7.0, "I want a refund."), _seg(CUSTOMER, 7.5, 9.0, "It broke."),
                   _seg(CUSTOMER, 12.0, 13.0, "Thanks.")],
        AGENT: [_seg(AGENT, 0.5, 3.0, "Acme, how can I help?"), _seg(AGENT, 8.8, 11.0, "Sorry about that.")],
    })
    assert [(t.speaker, t.text) for t in turns] == [
        (AGENT, "Acme, how can I help?"),
        (CUSTOMER, "I want a refund. It broke."),
        (AGENT, "Sorry about that."),
        (CUSTOMER, "Thanks."),
    ]
    assert turns[1].overlap and turns[2].overlap and not turns[0].overlap  # 8.8 < 9.0: the agent cut in
    assert [w.text for w in turns[1].words] == ["I want a refund.", "It broke."]
    assert conversation_text(turns).splitlines()[0] == "agent: Acme, how can I help?"


def test_merge_splits_a_speakers_long_pause_and_drops_empty_segments() -> None:
    turns = merge_channels({CUSTOMER: [_seg(CUSTOMER, 0, 1, "Hello?"), _seg(CUSTOMER, 4, 5, "Anyone?"),
                                       _seg(CUSTOMER, 6, 6.5, "  ")]})
    assert [t.text for t in turns] == ["Hello?", "Anyone?"]


def test_a_batched_chunk_is_split_back_into_stretches_of_speech() -> None:
    """A 30 s chunk of one side's speech (pauses cut out before decoding) holds several of its turns; word times
    split it back, so the other side's reply in between interleaves as it happened."""
    words = tuple(Word(start_s=a, end_s=b, text=t) for a, b, t in
                  [(1.0, 1.4, "I"), (1.5, 1.9, "want"), (2.0, 2.6, "a refund."), (9.0, 9.5, "Thank"), (9.6, 10.0, "you.")])
    chunk = Segment(speaker=CUSTOMER, start_s=1.0, end_s=10.0, text="I want a refund. Thank you.", words=words)
    parts = split_at_pauses(chunk)
    assert [(p.start_s, p.end_s, p.text) for p in parts] == [(1.0, 2.6, "I want a refund."), (9.0, 10.0, "Thank you.")]
    assert [len(p.words) for p in parts] == [3, 2] and {p.speaker for p in parts} == {CUSTOMER}
    turns = merge_channels({CUSTOMER: parts, AGENT: [_seg(AGENT, 4.0, 6.0, "Sorry about that.")]})
    assert [t.speaker for t in turns] == [CUSTOMER, AGENT, CUSTOMER]


@pytest.mark.parametrize("words", [(), (Word(start_s=0, end_s=1, text="Hello."),),
                                   (Word(start_s=0, end_s=1, text="Hello"), Word(start_s=1.5, end_s=2, text="there."))])
def test_a_segment_without_long_pauses_or_word_times_stays_whole(words: tuple[Word, ...]) -> None:
    segment = Segment(speaker=AGENT, start_s=0.0, end_s=2.0, text="Hello there.", words=words)
    assert split_at_pauses(segment) == [segment]


# -- the job state machine ----------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
POLICY = RetryPolicy(max_attempts=3, base_backoff_s=10, max_backoff_s=100, lease_s=60)


def _job(status: JobStatus, attempts: int = 0, *, available_in_s: float = 0, lease_in_s: float | None = None) -> JobView:
    return JobView(id=7, status=status, attempts=attempts, max_attempts=3,
                   available_at=NOW + timedelta(seconds=available_in_s),
                   lease_expires_at=None if lease_in_s is None else NOW + timedelta(seconds=lease_in_s))


@pytest.mark.parametrize(
    ("job", "claimable"),
    [
        (_job(JobStatus.QUEUED), True),
        (_job(JobStatus.QUEUED, available_in_s=5), False),  # backing off
        (_job(JobStatus.LEASED, 1, lease_in_s=5), False),  # someone is working on it
        (_job(JobStatus.LEASED, 1, lease_in_s=-1), True),  # its worker died
        (_job(JobStatus.DONE, 1), False),
        (_job(JobStatus.DEAD, 3), False),
        (_job(JobStatus.CANCELLED), False),
    ],
)
def test_claimable(job: JobView, claimable: bool) -> None:
    assert jobs.claimable(job, NOW) is claimable


def test_claim_leases_and_counts_the_attempt() -> None:
    values = jobs.claim(_job(JobStatus.QUEUED), now=NOW, owner="w1", token="t", policy=POLICY)
    assert values["status"] is JobStatus.LEASED and values["attempts"] == 1
    assert values["lease_expires_at"] == NOW + timedelta(seconds=60) and values["lease_token"] == "t"
    with pytest.raises(ValueError):
        jobs.claim(_job(JobStatus.LEASED, 1, lease_in_s=5), now=NOW, owner="w2", token="u", policy=POLICY)


def test_a_job_that_keeps_killing_workers_goes_dead() -> None:
    values = jobs.claim(_job(JobStatus.LEASED, 3, lease_in_s=-1), now=NOW, owner="w", token="t", policy=POLICY)
    assert values["status"] is JobStatus.DEAD and "worker lost 3 times" in values["last_error"]


@pytest.mark.parametrize(
    ("attempts", "permanent", "status", "delay_s"),
    [(1, False, JobStatus.QUEUED, 10), (2, False, JobStatus.QUEUED, 20), (3, False, JobStatus.DEAD, None),
     (1, True, JobStatus.DEAD, None)],
)
def test_failure_backs_off_then_dead_letters(attempts: int, permanent: bool, status: JobStatus, delay_s: float | None) -> None:
    values = jobs.fail(_job(JobStatus.LEASED, attempts), error="boom", now=NOW, policy=POLICY, permanent=permanent)
    assert values["status"] is status and values["last_error"] == "boom" and values["lease_token"] is None
    if delay_s is not None:
        waited = (values["available_at"] - NOW).total_seconds()
        assert 0.8 * delay_s <= waited <= 1.2 * delay_s
    else:
        assert values["finished_at"] == NOW


def test_backoff_is_capped_and_spread_deterministically() -> None:
    assert POLICY.backoff_s(attempt=20, job_id=1) <= 120
    assert POLICY.backoff_s(attempt=2, job_id=1) == POLICY.backoff_s(attempt=2, job_id=1)
    assert len({round(POLICY.backoff_s(attempt=2, job_id=i), 3) for i in range(20)}) > 10


# -- spool names from AMI -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "name",
    [
        "/etc/passwd",
        "/var/spool/asterisk/monitor/../../../../etc/shadow",
        "../outside.wav",
        "sub/../../outside.wav",
        "/var/spool/asterisk/monitorX/x.wav",  # a sibling folder with the same prefix
        "/var/spool/asterisk/monitor",
        "",
        "x\x00.wav",
    ],
)
def test_names_that_escape_the_spool_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(PathRefused):
        resolve_spool_path(name, spool_dir=tmp_path, asterisk_spool_dir="/var/spool/asterisk/monitor")


def test_symlinks_out_of_the_spool_are_refused(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (tmp_path / "secret.wav").write_bytes(b"x")
    (spool / "link.wav").symlink_to(tmp_path / "secret.wav")
    with pytest.raises(PathRefused, match="symlink"):
        resolve_spool_path("link.wav", spool_dir=spool, asterisk_spool_dir="/var/spool/asterisk/monitor")


@pytest.mark.parametrize(
    ("name", "relative"),
    [("/var/spool/asterisk/monitor/1.0.wav", "1.0.wav"), ("1.0-rx.wav", "1.0-rx.wav"),
     ("/var/spool/asterisk/monitor/2026/11/1.0.wav", "2026/11/1.0.wav"),
     ("/var/spool/asterisk/monitor/./a//b.wav", "a/b.wav")],
)
def test_names_inside_the_spool_map_to_our_mount(name: str, relative: str, tmp_path: Path) -> None:
    got = resolve_spool_path(name, spool_dir=tmp_path, asterisk_spool_dir="/var/spool/asterisk/monitor/")
    assert got == tmp_path.resolve() / relative


def test_legs_are_told_apart_by_name() -> None:
    plan = plan_files("/m/1.0.wav", ("/m/1.0-tx.wav", "/m/1.0-rx.wav"))
    assert [(p.role, p.source) for p in plan] == [("mix", "/m/1.0.wav"), ("tx", "/m/1.0-tx.wav"), ("rx", "/m/1.0-rx.wav")]
    assert [p.role for p in plan_files("/m/1.0-stereo.raw", ())] == ["stereo"]
    assert [p.role for p in plan_files("/m/a.wav", ("/m/in-leg.wav", "/m/out-leg.wav"))] == ["mix", "rx", "tx"]


# -- HTTP Range and search syntax -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("header", "size", "expect"),
    [
        (None, 1000, None),
        ("bytes=0-99", 1000, (0, 99)),
        ("bytes=900-", 1000, (900, 999)),
        ("bytes=-100", 1000, (900, 999)),
        ("bytes=-5000", 1000, (0, 999)),
        ("bytes=990-5000", 1000, (990, 999)),  # the end is clamped
        ("bytes=0-0", 1000, (0, 0)),
        ("items=0-5", 1000, None),  # unknown unit: ignored
        ("bytes=0-1,5-6", 1000, None),  # several ranges: the whole file
        ("bytes=1000-", 1000, RangeNotSatisfiable),
        ("bytes=5-2", 1000, RangeNotSatisfiable),
        ("bytes=-0", 1000, RangeNotSatisfiable),
        ("bytes=abc", 1000, RangeNotSatisfiable),
        ("bytes=-", 1000, RangeNotSatisfiable),
        ("bytes=0-", 0, RangeNotSatisfiable),
    ],
)
def test_parse_range(header: str | None, size: int, expect: object) -> None:
    if expect is RangeNotSatisfiable:
        with pytest.raises(RangeNotSatisfiable):
            parse_range(header, size)
    else:
        assert parse_range(header, size) == expect


@pytest.mark.parametrize(
    ("raw", "query"),
    [("refund printer", '"refund" "printer"'), ('NEAR(" OR -x) "', '"NEAR" "OR" "x"'), ("refun*", '"refun"*'),
     ("***", ""), ("Grüße", '"Grüße"')],
)
def test_search_words_cannot_break_fts5_syntax(raw: str, query: str) -> None:
    assert fts5_query(raw) == query

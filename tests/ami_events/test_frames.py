"""FrameSplitter: CRLF framing, banner, chunking independence, malformed/oversized frames, bounded memory."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.ami.frames import FrameSplitter, split_headers

BANNER = b"Asterisk Call Manager/9.0.0\r\n"
LOGIN = b"Response: Success\r\nActionID: login-1\r\nMessage: Authentication accepted\r\n\r\n"
NEWEXTEN = (
    b"Event: Newexten\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/trunk-00000000\r\nAccountCode: \r\n"
    b"Application: AGI\r\nAppData: agi://127.0.0.1:4573/inbound,1,NONE\r\n\r\n"
)


def feed_in_chunks(data: bytes, cuts: list[int], **kwargs: int) -> tuple[list[dict[str, str]], FrameSplitter]:
    splitter = FrameSplitter(**kwargs)
    frames: list[dict[str, str]] = []
    start = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        frames.extend(splitter.feed(data[start:cut]))
        start = cut
        assert splitter.buffered_bytes <= splitter.max_frame_bytes
    return frames, splitter


def test_banner_is_stripped_and_version_kept() -> None:
    splitter = FrameSplitter()
    frames = splitter.feed(BANNER + LOGIN)
    assert frames == [{"Response": "Success", "ActionID": "login-1", "Message": "Authentication accepted"}]
    assert splitter.version == "9.0.0"
    assert splitter.malformed_count == 0


def test_banner_split_across_chunks() -> None:
    frames, splitter = feed_in_chunks(BANNER + LOGIN, [1, 5, 20, 29, 30])
    assert frames[0]["Response"] == "Success"
    assert splitter.banners == ["Asterisk Call Manager/9.0.0"]


def test_stream_without_banner_is_accepted() -> None:
    assert FrameSplitter().feed(LOGIN)[0]["ActionID"] == "login-1"


def test_values_keep_colons_and_empty_values() -> None:
    (frame,) = FrameSplitter().feed(NEWEXTEN)
    assert frame["AppData"] == "agi://127.0.0.1:4573/inbound,1,NONE"
    assert frame["AccountCode"] == ""


def test_header_without_space_after_colon() -> None:
    assert split_headers("Event: X\r\nKey:value\r\nEmpty:") == {"Event": "X", "Key": "value", "Empty": ""}


def test_line_without_colon_is_malformed_and_skipped() -> None:
    data = LOGIN + b"Event: Broken\r\nthis line has no colon\r\n\r\n" + NEWEXTEN
    splitter = FrameSplitter()
    frames = splitter.feed(data)
    assert [f.get("Event", f.get("Response")) for f in frames] == ["Success", "Newexten"]
    assert splitter.malformed_count == 1
    bad = splitter.recent_malformed[-1]
    assert bad.reason == "line without ':'"
    assert bad.raw.startswith(b"Event: Broken")


def test_mid_stream_banner_of_a_second_connection() -> None:
    splitter = FrameSplitter()
    frames = splitter.feed(BANNER + LOGIN + NEWEXTEN + BANNER + LOGIN)
    assert [f.get("Response", f.get("Event")) for f in frames] == ["Success", "Newexten", "Success"]
    assert splitter.banners == ["Asterisk Call Manager/9.0.0"] * 2
    assert splitter.malformed_count == 0


def test_extra_blank_lines_between_messages_are_tolerated() -> None:
    splitter = FrameSplitter()
    frames = splitter.feed(LOGIN + b"\r\n\r\n" + NEWEXTEN)
    assert len(frames) == 2
    assert splitter.malformed_count == 0


def test_oversized_frame_is_dropped_and_memory_stays_bounded() -> None:
    limit = 1024
    huge = b"Event: Huge\r\nValue: " + b"x" * 10_000 + b"\r\n\r\n"
    data = LOGIN + huge + NEWEXTEN
    # In one piece and in small chunks (the frame never completes within one feed).
    for cuts in ([], list(range(0, len(data), 100))):
        frames, splitter = feed_in_chunks(data, cuts, max_frame_bytes=limit)
        assert [f.get("Event", f.get("Response")) for f in frames] == ["Success", "Newexten"]
        assert splitter.malformed_count == 1
        assert splitter.recent_malformed[-1].reason == "frame larger than limit"
        assert len(splitter.recent_malformed[-1].raw) <= 256


def test_oversized_frame_separator_straddling_chunks() -> None:
    limit = 256
    huge = b"Event: Huge\r\nValue: " + b"y" * 1000 + b"\r\n\r\n"
    data = huge + NEWEXTEN
    sep = data.index(b"\r\n\r\n")
    for offset in range(0, 4):
        frames, splitter = feed_in_chunks(data, [300, sep + offset], max_frame_bytes=limit)
        assert [f["Event"] for f in frames] == ["Newexten"], offset
        assert splitter.malformed_count == 1


def test_invalid_utf8_and_unicode_names() -> None:
    data = "Event: Newchannel\r\nCallerIDName: Zoë Ωmega 山田\r\n\r\n".encode() + b"Event: X\r\nName: \xff\xfe\r\n\r\n"
    frames = FrameSplitter().feed(data)
    assert frames[0]["CallerIDName"] == "Zoë Ωmega 山田"
    assert frames[1]["Name"] == "\ufffd\ufffd"


def test_reset_forgets_partial_frame() -> None:
    splitter = FrameSplitter()
    assert splitter.feed(BANNER + b"Event: Partial\r\nKey: va") == []
    splitter.reset()
    frames = splitter.feed(BANNER + LOGIN)
    assert frames == [{"Response": "Success", "ActionID": "login-1", "Message": "Authentication accepted"}]
    assert splitter.malformed_count == 0


def test_trace_bytewise_equals_one_shot(trace_files: list[Path]) -> None:
    data = next(p for p in trace_files if p.name == "originate_busy.ami").read_bytes()
    one_shot = FrameSplitter().feed(data)
    bytewise, splitter = feed_in_chunks(data, list(range(len(data))))
    assert bytewise == one_shot
    assert splitter.malformed_count == 0


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=40))
def test_any_chunking_gives_the_same_frames(cuts: list[int]) -> None:
    data = BANNER + LOGIN + NEWEXTEN * 20 + "Event: U\r\nCallerIDName: Zoë\r\n\r\n".encode() * 10
    expected = FrameSplitter().feed(data)
    frames, splitter = feed_in_chunks(data, [c % (len(data) + 1) for c in cuts])
    assert frames == expected
    assert len(frames) == 31


@settings(max_examples=300, deadline=None)
@given(
    chunks=st.lists(
        st.one_of(
            st.binary(max_size=300),
            st.sampled_from([b"\r\n", b"\r\n\r\n", b": ", b"Event: Hangup", b"Asterisk Call Manager/1.0", b"\xff"]),
        ),
        max_size=60,
    )
)
def test_random_bytes_never_raise_and_buffer_is_bounded(chunks: list[bytes]) -> None:
    splitter = FrameSplitter(max_frame_bytes=512)
    for chunk in chunks:
        for frame in splitter.feed(chunk):
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in frame.items())
        assert splitter.buffered_bytes <= 512

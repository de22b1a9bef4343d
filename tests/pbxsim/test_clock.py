"""The virtual clock: time passes only when every process waits on it, in timer order, and never during real I/O."""

from __future__ import annotations

import asyncio

import pytest

from callcenter.pbxsim.clock import TIMEOUT, RealtimeClock, VirtualClock


async def test_timers_fire_in_order_and_time_jumps() -> None:
    clock = VirtualClock(start_epoch_s=100.0)
    seen: list[tuple[str, float]] = []

    async def proc(name: str, delay_s: float) -> None:
        await clock.sleep(delay_s)
        seen.append((name, clock.now_s()))

    # every waiting activity is its own process (one wait at a time each: that is what the count tracks)
    tasks = [clock.spawn(proc(name, delay), name=name) for name, delay in (("b", 30.0), ("a", 10.0), ("c", 30.0))]
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert seen == [("a", 110.0), ("b", 130.0), ("c", 130.0)]  # equal times: in the order they were set


async def test_real_io_holds_virtual_time() -> None:
    """A process awaiting a socket stays active: a timer due meanwhile does not fire before the I/O is done."""
    clock = VirtualClock(start_epoch_s=0.0)
    order: list[str] = []
    received = asyncio.Event()
    reply = asyncio.Event()
    timer_done = asyncio.Event()

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        received.set()
        await reply.wait()  # the test holds the answer: the timer has every chance to run meanwhile
        writer.write(b"pong\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(peer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def io_bound() -> None:  # stands for a FastAGI round trip, over a real loopback socket
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping\n")
        await reader.readline()
        writer.close()
        order.append(f"io done at {clock.now_s()}")

    async def timer() -> None:
        await clock.sleep(1.0)
        order.append(f"timer at {clock.now_s()}")
        timer_done.set()

    clock.spawn(io_bound(), name="io")
    clock.spawn(timer(), name="timer")
    await asyncio.wait_for(received.wait(), 5)  # the I/O is under way and the timer parked on the clock
    assert order == [] and clock.now_s() == 0.0
    reply.set()
    await asyncio.wait_for(timer_done.wait(), 5)
    assert order == ["io done at 0.0", "timer at 1.0"]
    server.close()
    await server.wait_closed()


async def test_manual_advance_and_waking() -> None:
    clock = VirtualClock(start_epoch_s=0.0, auto=False)
    waiter = clock.waiter()
    got: list[object] = []

    async def parked() -> None:
        got.append(await clock.park(waiter, 5.0))
        got.append(clock.now_s())

    clock.spawn(parked(), name="parked")
    await clock.advance(2.0)
    assert got == [] and clock.now_s() == 2.0
    assert waiter.wake("hello") and not waiter.wake("again")
    await clock.settle()
    assert got == ["hello", 2.0]
    timed = clock.waiter()
    result: list[object] = []

    async def times_out() -> None:
        result.append(await clock.park(timed, 1.5))

    clock.spawn(times_out(), name="timeout")
    await clock.advance(1.0)
    assert result == []
    await clock.advance(1.0)
    assert result == [TIMEOUT] and clock.now_s() == 4.0


async def test_cancelled_process_keeps_the_count_balanced() -> None:
    clock = VirtualClock(start_epoch_s=0.0, auto=False)
    task = clock.spawn(clock.sleep(100.0), name="sleeper")
    await clock.settle()
    assert clock.active == 0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert clock.active == 0
    await clock.advance(1.0)  # would hang if the count were off
    assert clock.errors == []


async def test_failing_process_is_recorded_not_fatal() -> None:
    clock = VirtualClock(start_epoch_s=0.0)

    async def broken() -> None:
        raise RuntimeError("bug")

    task = clock.spawn(broken(), name="broken")
    await task
    assert [str(e) for e in clock.errors] == ["bug"]


async def test_event_stamps_are_strictly_increasing() -> None:
    clock = VirtualClock(start_epoch_s=50.0)
    stamps = [clock.stamp_s() for _ in range(3)]
    assert stamps[0] == 50.0 and stamps[0] < stamps[1] < stamps[2] < 50.001


async def test_realtime_clock_runs_faster_with_speed() -> None:
    clock = RealtimeClock(speed=1000.0, start_epoch_s=0.0)
    before = clock.now_s()
    await clock.sleep(5.0)  # 5 simulated seconds = 5 ms
    assert clock.now_s() - before >= 5.0
    with pytest.raises(ValueError):
        RealtimeClock(speed=0)

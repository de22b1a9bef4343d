"""The memory store's running-sum timeline against the obvious scan it replaces, on random histories."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from callcenter.routing.state import _Timeline



def _disjoint(gaps_and_lengths: list[tuple[int, int]]) -> list[tuple[float, float]]:
    out, t = [], 0.0
    for gap, length in gaps_and_lengths:
        out.append((t + gap, t + gap + length))
        t += gap + length
    return out


# One agent's stretches never overlap; they may arrive out of order (another instance's late event).
histories = (
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 50)), max_size=40)
    .map(_disjoint)
    .flatmap(lambda stretches: st.permutations(stretches) if len(stretches) < 2 else st.just(stretches))
)


def naive(stretches: list[tuple[float, float]], since_s: float) -> tuple[float, int]:
    kept = [(a, b) for a, b in stretches if b >= since_s]
    return sum(b - max(a, since_s) for a, b in kept), len(kept)


@settings(max_examples=300, deadline=None)
@given(histories, st.lists(st.integers(-10, 1100), min_size=1, max_size=8), st.integers(0, 1100))
def test_since_equals_a_scan_even_with_late_stretches_and_pruning(stretches, queries, horizon):
    timeline = _Timeline()
    for a, b in stretches:  # in arrival order: some arrive late (out of end order)
        timeline.add(a, b)
    timeline.prune(float(horizon))
    kept = [(a, b) for a, b in stretches if b >= horizon]
    for q in queries:
        total_s, count = timeline.since(float(q))
        expect_s, expect_count = naive(kept, float(q))
        assert count == expect_count
        assert abs(total_s - expect_s) < 1e-6


def test_an_empty_timeline_has_nothing_since_any_time():
    assert _Timeline().since(0.0) == (0.0, 0)


def test_a_stretch_straddling_the_window_start_counts_only_its_part_inside():
    timeline = _Timeline()
    timeline.add(100.0, 160.0)
    timeline.add(200.0, 230.0)
    assert timeline.since(130.0) == (60.0, 2)

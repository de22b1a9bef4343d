"""Report charts as SVG or PNG, drawn with matplotlib (pure: data in, bytes out).

matplotlib is imported on first use, not with the service (it takes about a second), and always through the Agg
canvas: no display, no pyplot, no global figure registry. Output is byte-for-byte the same for the same data (SVG ids
from a fixed hash salt, no date in the metadata), so a chart can be cached or compared. Labels come from the CRM
(team, stage, user names): mathtext and TeX are off, so ``$`` or ``\\`` are drawn as typed, and SVG text is written
as escaped ``<text>`` (svg.fonttype "none"), never as markup.

Every bar and line carries an SVG id (``gid``) naming its series and index, e.g. ``answered-3``, so a test or a page
script can find it.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "ChartFormat", "ChartSize", "IntervalBar", "Stage", "MEDIA_TYPES", "calls_chart", "funnel_chart",
    "figures_chart", "interval_bars", "render",
]


class ChartFormat(StrEnum):
    SVG = "svg"
    PNG = "png"


MEDIA_TYPES = {ChartFormat.SVG: "image/svg+xml", ChartFormat.PNG: "image/png"}

DPI = 100  # pixels per inch: a figure of w/100 x h/100 inches is exactly w x h pixels
MIN_WIDTH_PX, MAX_WIDTH_PX = 320, 3840
MIN_HEIGHT_PX, MAX_HEIGHT_PX = 200, 2160


@dataclass(frozen=True, slots=True)
class ChartSize:
    width_px: int = 960
    height_px: int = 400

    def __post_init__(self) -> None:
        if not MIN_WIDTH_PX <= self.width_px <= MAX_WIDTH_PX:
            raise ValueError(f"width must be between {MIN_WIDTH_PX} and {MAX_WIDTH_PX} pixels")
        if not MIN_HEIGHT_PX <= self.height_px <= MAX_HEIGHT_PX:
            raise ValueError(f"height must be between {MIN_HEIGHT_PX} and {MAX_HEIGHT_PX} pixels")


@dataclass(frozen=True, slots=True)
class IntervalBar:
    """One interval of the calls chart: its label and how its calls ended."""

    label: str
    answered: int
    missed: int
    abandoned: int
    service_level_pct: float | None  # null: nothing to measure yet


@dataclass(frozen=True, slots=True)
class Stage:
    """One bar of a funnel: a stage's name, its figure (count or amount) and an optional note (conversion)."""

    label: str
    value: float
    note: str = ""


# Okabe-Ito colours: told apart with every common colour-vision deficiency.
COLOURS = {"answered": "#009E73", "missed": "#E69F00", "abandoned": "#D55E00", "line": "#0072B2"}
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
STACK = ("answered", "missed", "abandoned")


def interval_bars(series: Sequence[Mapping[str, Any]], zone: ZoneInfo) -> list[IntervalBar]:
    """The reports API's series (start_s, answered, missed, abandoned, service_level_pct) as labelled bars: the
    time of day in the team's zone, with the date when the series spans more than one day."""
    starts = [datetime.fromtimestamp(slot["start_s"], zone) for slot in series]
    one_day = len({s.date() for s in starts}) <= 1
    return [
        IntervalBar(
            label=start.strftime("%H:%M" if one_day else "%m-%d %H:%M"), answered=slot["answered"],
            missed=slot["missed"], abandoned=slot["abandoned"], service_level_pct=slot["service_level_pct"],
        )
        for start, slot in zip(starts, series)
    ]


# --- drawing ---------------------------------------------------------------------------------------------------------

# rcParams are process-wide: one chart at a time sets and draws with them (drawing is CPU-bound anyway).
_LOCK = threading.Lock()
_RC = {
    "svg.hashsalt": "callcenter-reports",  # clip-path and glyph ids derive from it: same data, same bytes
    "svg.fonttype": "none",  # text as <text> elements (escaped), not glyph outlines
    "text.usetex": False,
    "text.parse_math": False,  # "$5 deal" is text, not mathtext
    "font.family": "DejaVu Sans",  # shipped with matplotlib: the same metrics on every machine
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _figure(size: ChartSize) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size.width_px / DPI, size.height_px / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, fmt: ChartFormat) -> bytes:
    out = io.BytesIO()
    if fmt is ChartFormat.SVG:
        fig.savefig(out, format="svg", dpi=DPI, metadata={"Date": None, "Creator": None})
    else:
        fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()


def _draw(fmt: ChartFormat, size: ChartSize, paint: Callable[[Any], None]) -> bytes:
    import matplotlib

    with _LOCK, matplotlib.rc_context(_RC):
        fig = _figure(size)
        paint(fig)
        return _save(fig, fmt)


def _sparse_ticks(ax: Any, labels: Sequence[str], *, max_ticks: int) -> None:
    """At most ``max_ticks`` x labels, evenly spaced over the categories."""
    step = max(1, -(-len(labels) // max_ticks))
    positions = list(range(0, len(labels), step))
    ax.set_xticks(positions, [labels[i] for i in positions], rotation=45 if len(positions) > 8 else 0, ha="right" if len(positions) > 8 else "center")


def _whole_ticks(axis: Any, values: Sequence[float]) -> None:
    """Counts (agents, deals) get whole-number ticks: no "1.5 agents" on the axis."""
    if all(float(v).is_integer() for v in values):
        axis.get_major_locator().set_params(integer=True)


def calls_chart(bars: Sequence[IntervalBar], *, title: str, fmt: ChartFormat, size: ChartSize = ChartSize()) -> bytes:
    """Calls per interval, stacked answered / missed / abandoned, and the service level (right axis, %)."""

    def paint(fig: Any) -> None:
        ax = fig.add_subplot()
        x = list(range(len(bars)))
        bottom = [0] * len(bars)
        for name in STACK:
            heights = [getattr(bar, name) for bar in bars]
            container = ax.bar(x, heights, bottom=bottom, width=0.8, color=COLOURS[name], label=name, linewidth=0)
            for i, patch in enumerate(container.patches):
                patch.set_gid(f"{name}-{i}")
            bottom = [b + h for b, h in zip(bottom, heights)]
        ax.set_ylabel("calls")
        ax.set_ylim(0, max(max(bottom, default=0), 1) * 1.1)
        ax.yaxis.get_major_locator().set_params(integer=True)
        _sparse_ticks(ax, [bar.label for bar in bars], max_ticks=max(4, size.width_px // 80))
        ax.set_title(title, loc="left")
        sl = ax.twinx()
        sl.spines["right"].set_visible(True)
        sl.set_ylim(0, 105)
        sl.set_ylabel("service level %")
        levels = [float("nan") if bar.service_level_pct is None else bar.service_level_pct for bar in bars]
        (line,) = sl.plot(x, levels, color=COLOURS["line"], linewidth=2, marker="o" if len(bars) <= 48 else None,
                          markersize=3, label="service level %")
        line.set_gid("service-level")
        handles = ax.get_legend_handles_labels()[0] + [line]
        fig.legend(handles=handles, loc="outside upper right", ncols=4, frameon=False, fontsize="small")

    return _draw(fmt, size, paint)


def funnel_chart(stages: Sequence[Stage], *, title: str, value_label: str, fmt: ChartFormat,
                 size: ChartSize = ChartSize()) -> bytes:
    """A funnel as horizontal bars, first stage on top, each with its figure and note (e.g. the conversion)."""

    def paint(fig: Any) -> None:
        ax = fig.add_subplot()
        y = list(range(len(stages)))
        values = [stage.value for stage in stages]
        container = ax.barh(y, values, height=0.7, color=PALETTE[0])
        for i, patch in enumerate(container.patches):
            patch.set_gid(f"stage-{i}")
        ax.set_yticks(y, [stage.label for stage in stages])
        ax.invert_yaxis()
        top = max(values, default=0) or 1
        ax.set_xlim(0, top * 1.25)  # room for the figures right of the bars
        _whole_ticks(ax.xaxis, values)
        for i, stage in enumerate(stages):
            text = f"{stage.value:,.0f}" + (f" · {stage.note}" if stage.note else "")
            ax.text(stage.value + top * 0.01, i, text, va="center", fontsize="small")
        ax.set_xlabel(value_label)
        ax.set_title(title, loc="left")

    return _draw(fmt, size, paint)


def figures_chart(labels: Sequence[str], series: Mapping[str, Sequence[float | None]], *, kind: str, title: str,
                  fmt: ChartFormat, size: ChartSize = ChartSize(), value_label: str = "") -> bytes:
    """A report's grouped figures: one group per label, one bar (``kind="bar"``) or line (``"line"``) per series;
    a null value is a gap. Ids: ``<series index>-<label index>`` for bars, ``series-<series index>`` for lines."""
    if kind not in ("bar", "line"):
        raise ValueError("kind must be bar or line")

    def paint(fig: Any) -> None:
        ax = fig.add_subplot()
        x = list(range(len(labels)))
        width = 0.8 / max(len(series), 1)
        for s, (name, values) in enumerate(series.items()):
            colour = PALETTE[s % len(PALETTE)]
            if kind == "bar":
                offset = (s - (len(series) - 1) / 2) * width
                heights = [0.0 if v is None else v for v in values]
                container = ax.bar([i + offset for i in x], heights, width=width, color=colour, label=name, linewidth=0)
                for i, patch in enumerate(container.patches):
                    patch.set_gid(f"{s}-{i}")
            else:
                points = [float("nan") if v is None else v for v in values]
                (line,) = ax.plot(x, points, color=colour, linewidth=2, marker="o", markersize=3, label=name)
                line.set_gid(f"series-{s}")
        _sparse_ticks(ax, labels, max_ticks=max(4, size.width_px // 80))
        _whole_ticks(ax.yaxis, [v for values in series.values() for v in values if v is not None])
        if value_label:
            ax.set_ylabel(value_label)
        ax.set_title(title, loc="left")
        if series:
            fig.legend(loc="outside upper right", ncols=min(len(series), 4), frameon=False, fontsize="small")

    return _draw(fmt, size, paint)


async def render(draw: Callable[..., bytes], /, *args: Any, **kwargs: Any) -> bytes:
    """Draw off the event loop (a chart takes tens of milliseconds, the first one an import too)."""
    return await asyncio.to_thread(draw, *args, **kwargs)

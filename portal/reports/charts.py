"""Geometry of the dashboard's server-rendered SVG charts (pure: no database, no Flask).

The template draws what these functions return inside ``<svg viewBox="0 0 {width} {height}">``, so the charts
need no JavaScript library and read the same with styles or scripts off.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from portal.money import format_inr

#: SVG units kept right of the longest bar for its value text
TEXT_ROOM = 190


@dataclass(frozen=True)
class Bar:
    """One horizontal bar: its row label, the value text at its end, and its box in SVG units."""

    label: str
    text: str
    y: float
    width: float


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars; ``description`` is the chart in words (for ``<desc>`` and screen readers)."""

    width: int
    height: int
    label_width: int
    bar_height: int
    bars: tuple[Bar, ...]
    description: str


def bar_chart(items: Sequence, *, width: int = 420, label_width: int = 80, row: int = 28) -> BarChart:
    """Bars of the outstanding principal of ``items`` (``Slice``-like: label, count, principal), scaled to the
    largest; text "Rs 1,20,000.00 · 3 loans" beside each bar."""
    items = list(items)
    top = max((item.principal for item in items), default=Decimal(0)) or Decimal(1)
    room = width - label_width - TEXT_ROOM
    bars, words = [], []
    for n, item in enumerate(items):
        share = float(item.principal / top) if item.principal > 0 else 0.0
        text = f"{format_inr(item.principal)} · {item.count} loan{'' if item.count == 1 else 's'}"
        bars.append(Bar(label=item.label, text=text, y=n * row + 4, width=round(max(share * room, 0.0), 1)))
        words.append(f"{item.label}: {text}")
    return BarChart(width=width, height=max(1, len(items)) * row + 4, label_width=label_width,
                    bar_height=row - 10, bars=tuple(bars), description="; ".join(words) + ".")


@dataclass(frozen=True)
class LineChart:
    """Two lines over the same dates: AUM (left scale) and PAR30 (right scale); points as SVG polyline text."""

    width: int
    height: int
    aum_points: str
    par_points: str
    first_label: str
    last_label: str
    aum_max: str
    par_max: str
    description: str
    count: int


def trend_chart(points: Sequence, *, width: int = 640, height: int = 200, pad: int = 30) -> LineChart:
    """The AUM / PAR30 trend of ``points`` (``TrendPoint``-like: on, aum, par30), oldest first. Each line is
    scaled to its own maximum (AUM on the left, PAR30 on the right); one point draws a dot-like short line."""
    points = list(points)
    n = len(points)
    aum_top = max((p.aum for p in points), default=Decimal(0)) or Decimal(1)
    par_real = max((p.par30 for p in points), default=Decimal(0))
    par_top = par_real or Decimal(1)
    inner_w, inner_h = width - 2 * pad, height - 2 * pad

    def x(i: int) -> float:
        return round(pad + (inner_w * i / (n - 1) if n > 1 else inner_w / 2), 1)

    def y(value: Decimal, top: Decimal) -> float:
        return round(pad + inner_h - float(value / top) * inner_h, 1)

    aum = " ".join(f"{x(i)},{y(p.aum, aum_top)}" for i, p in enumerate(points))
    par = " ".join(f"{x(i)},{y(p.par30, par_top)}" for i, p in enumerate(points))
    if n:
        first, last = points[0], points[-1]
        description = (f"{n} business date{'s' if n != 1 else ''} from {first.on:%d %b %Y} to {last.on:%d %b %Y}: "
                       f"AUM from {format_inr(first.aum)} to {format_inr(last.aum)}, PAR30 from {first.par30}% "
                       f"to {last.par30}%.")
    else:
        description = "No snapshots yet."
    return LineChart(width=width, height=height, aum_points=aum, par_points=par,
                     first_label=f"{points[0].on:%d %b}" if n else "", last_label=f"{points[-1].on:%d %b}" if n else "",
                     aum_max=format_inr(aum_top if n else Decimal(0)), par_max=f"{par_real}%",
                     description=description, count=n)


def hbar_chart(rows: Sequence[tuple[str, Decimal | int, str]], *, width: int = 560, label_width: int = 130,
               row: int = 28, text_room: int = 230) -> BarChart:
    """Horizontal bars of any quantity: ``rows`` are ``(label, value, text)`` (value a Decimal or int >= 0,
    text shown at the bar's end), scaled to the largest value; negative values draw no bar."""
    rows = list(rows)
    top = max((Decimal(v) for _, v, _ in rows), default=Decimal(0)) or Decimal(1)
    room = width - label_width - text_room
    bars = tuple(Bar(label=label, text=text, y=n * row + 4,
                     width=round(max(float(Decimal(value) / top) * room, 0.0), 1) if value and value > 0 else 0.0)
                 for n, (label, value, text) in enumerate(rows))
    words = "; ".join(f"{label}: {text}" for label, _, text in rows)
    return BarChart(width=width, height=max(1, len(rows)) * row + 4, label_width=label_width, bar_height=row - 10,
                    bars=bars, description=(words + ".") if words else "No data.")


#: line colours of the multi-line charts (colour-blind-safe Okabe-Ito palette), reused in order
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
DASHES = ("", "6 3", "2 3", "8 3 2 3")


@dataclass(frozen=True)
class Series:
    """One line of a multi-line chart: its name, colour, dash pattern, SVG polyline points and the dots."""

    name: str
    color: str
    dash: str
    points: str
    dots: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class MultiLineChart:
    """Several lines over the same x labels on one y scale from 0 to ``y_max`` (with ``unit``): gridlines at
    ``ticks`` (value text, y), x labels ``(text, x)``, the lines, and the chart in words."""

    width: int
    height: int
    pad_left: int
    pad: int
    y_max: str
    ticks: tuple[tuple[str, float], ...]
    x_labels: tuple[tuple[str, float], ...]
    series: tuple[Series, ...]
    description: str
    count: int


def _nice_top(value: Decimal) -> Decimal:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is >= ``value`` (a readable axis maximum); 1 for zero."""
    if value <= 0:
        return Decimal(1)
    scale = Decimal(1)
    while scale * 10 < value:
        scale *= 10
    while scale > value:
        scale /= 10
    for step in (1, 2, Decimal("2.5"), 5, 10):
        if scale * step >= value:
            return scale * step
    return scale * 10


def multi_line_chart(x_labels: Sequence[str], series: Sequence[tuple[str, Sequence[Decimal | None]]], *,
                     unit: str = "%", width: int = 680, height: int = 240, pad: int = 28, pad_left: int = 52,
                     max_x_labels: int = 8) -> MultiLineChart:
    """Lines ``series`` = ``[(name, values)]`` (one value per x label; None = no point, the line skips it) on a
    shared y scale from 0 to a round maximum; at most ``max_x_labels`` x labels are written (evenly spaced)."""
    n = len(x_labels)
    values = [v for _, vs in series for v in vs if v is not None]
    top = _nice_top(max(values, default=Decimal(0)))
    inner_w, inner_h = width - pad_left - pad, height - 2 * pad

    def x(i: int) -> float:
        return round(pad_left + (inner_w * i / (n - 1) if n > 1 else inner_w / 2), 1)

    def y(value: Decimal) -> float:
        return round(pad + inner_h - float(Decimal(value) / top) * inner_h, 1)

    lines = []
    for k, (name, vs) in enumerate(series):
        dots = tuple((x(i), y(v)) for i, v in enumerate(vs) if v is not None)
        lines.append(Series(name=name, color=PALETTE[k % len(PALETTE)], dash=DASHES[(k // len(PALETTE)) % 4],
                            points=" ".join(f"{a},{b}" for a, b in dots), dots=dots))
    step = max(1, -(-n // max_x_labels))
    labels = tuple((x_labels[i], x(i)) for i in range(0, n, step))
    if n and labels[-1][0] != x_labels[-1]:
        labels = labels + ((x_labels[-1], x(n - 1)),)
    ticks = tuple((f"{(top * i / 4).normalize():f}{unit}", y(top * i / 4)) for i in range(5))
    if n:
        words = []
        for name, vs in series:
            shown = [(x_labels[i], v) for i, v in enumerate(vs) if v is not None]
            if shown:
                words.append(f"{name}: {shown[0][1]}{unit} at {shown[0][0]} to {shown[-1][1]}{unit} at {shown[-1][0]}")
        description = "; ".join(words) + "." if words else "No data."
    else:
        description = "No data."
    return MultiLineChart(width=width, height=height, pad_left=pad_left, pad=pad, y_max=f"{top.normalize():f}{unit}",
                          ticks=ticks, x_labels=labels, series=tuple(lines), description=description, count=n)


__all__ = ["Bar", "BarChart", "LineChart", "MultiLineChart", "Series", "bar_chart", "hbar_chart", "multi_line_chart",
           "trend_chart"]

"""A key's last 30 days of usage on its admin page, drawn by the server as an inline SVG
(docs/admin.md, "The pages"): no script and no asset, so the page shows it as it is, and
staff read each day's count on its bar (`<title>` `YYYY-MM-DD: N`). One query and one cache
read (apikey_usage), whatever the number of days.

Each day is a bar of its requests, scaled to the busiest day, stacked as the API counts them
(docs/api.md, "Key usage"): the answered ones at the bottom, then the errors among them, then
the 429s. The geometry is computed here, as strings, so that the template only places it
(and no number is localised on its way into an attribute)."""

from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from apikeys.models import APIKey
from apikeys.usage import UsageDay, apikey_usage

CHART_DAYS = 30
TEMPLATE = "admin/apikeys/apikey/usage_chart.html"

# Pixels. 30 columns of 24 px: 720 px of bars, readable at 1280 px beside the field's label.
BAR_WIDTH = 18
COLUMN_WIDTH = 24
PLOT_HEIGHT = 160
LEFT = 52  # the counts of the y axis
TOP = 12
BOTTOM = 24  # the dates
RIGHT = 8
WIDTH = LEFT + CHART_DAYS * COLUMN_WIDTH + RIGHT
HEIGHT = TOP + PLOT_HEIGHT + BOTTOM
BASELINE = TOP + PLOT_HEIGHT
# A day with any request shows at least this much of a bar, beside a busy day.
MIN_BAR_HEIGHT = 1.0


def _px(value: float) -> str:
    """A coordinate for an attribute: at most one decimal, a dot, no grouping."""
    return f"{value:.1f}".removesuffix(".0")


@dataclass(frozen=True)
class Segment:
    kind: str  # a CSS class: answered, errors, rate-limited
    y: str
    height: str


@dataclass(frozen=True)
class Bar:
    title: str  # exactly "YYYY-MM-DD: N", N the day's requests
    x: str  # the column's left edge (the whole column is the day's hover target)
    bar_x: str
    segments: list[Segment]


@dataclass(frozen=True)
class Label:
    text: str
    x: str
    y: str
    anchor: str  # text-anchor


@dataclass(frozen=True)
class UsageChart:
    summary: str  # the aria-label and the caption
    bars: list[Bar]
    labels: list[Label]
    width: str = str(WIDTH)
    height: str = str(HEIGHT)
    plot_left: str = str(LEFT)
    plot_right: str = str(WIDTH - RIGHT)
    baseline: str = str(BASELINE)
    gridlines: tuple[str, ...] = (_px(TOP + PLOT_HEIGHT / 2), _px(TOP))  # half way, the top
    top: str = str(TOP)
    column_width: str = str(COLUMN_WIDTH)
    column_height: str = str(PLOT_HEIGHT)
    bar_width: str = str(BAR_WIDTH)


def apikey_usage_chart(*, api_key: APIKey) -> SafeString:
    """The chart's HTML (auto-escaped by its template)."""
    chart = usage_chart(apikey_usage(api_key=api_key, days=CHART_DAYS))
    return render_to_string(TEMPLATE, {"chart": chart})


def usage_chart(days: list[UsageDay]) -> UsageChart:
    """The chart of `days` (oldest first, today last), scaled to the busiest."""
    busiest = max(days, key=lambda day: day.requests)
    scale = PLOT_HEIGHT / busiest.requests if busiest.requests else 0.0
    bars = [
        Bar(
            title=f"{day.date.isoformat()}: {day.requests}",
            x=_px(LEFT + index * COLUMN_WIDTH),
            bar_x=_px(LEFT + index * COLUMN_WIDTH + (COLUMN_WIDTH - BAR_WIDTH) / 2),
            segments=_segments(day, scale),
        )
        for index, day in enumerate(days)
    ]
    return UsageChart(
        summary=_summary(days, busiest),
        bars=bars,
        labels=_labels(days, busiest.requests),
    )


def _segments(day: UsageDay, scale: float) -> list[Segment]:
    """The day's bar, bottom up; the errors and 429s are among its requests (counts that
    disagree, after a cache failure, are cut to fit)."""
    if not day.requests:
        return []
    height = max(day.requests * scale, MIN_BAR_HEIGHT)
    errors = min(day.errors, day.requests)
    rate_limited = min(day.rate_limited, day.requests - errors)
    parts = [
        ("answered", day.requests - errors - rate_limited),
        ("errors", errors),
        ("rate-limited", rate_limited),
    ]
    segments, bottom = [], float(BASELINE)
    for kind, count in parts:
        if count:
            part = height * count / day.requests
            bottom -= part
            segments.append(Segment(kind=kind, y=_px(bottom), height=_px(part)))
    return segments


def _labels(days: list[UsageDay], busiest: int) -> list[Label]:
    """The counts at the baseline (0) and at the top (the busiest day's), and the dates of
    the first, middle and last (today's) columns."""
    labels = [Label(text="0", x=_px(LEFT - 6), y=_px(BASELINE + 4), anchor="end")]
    if busiest:
        labels.append(Label(text=f"{busiest:,}", x=_px(LEFT - 6), y=_px(TOP + 4), anchor="end"))
    last = len(days) - 1
    for index, anchor, x in [
        (0, "start", LEFT),
        (last // 2, "middle", LEFT + (last // 2) * COLUMN_WIDTH + COLUMN_WIDTH / 2),
        (last, "end", LEFT + len(days) * COLUMN_WIDTH),
    ]:
        text = days[index].date.isoformat() + (" (today)" if index == last else "")
        labels.append(Label(text=text, x=_px(x), y=_px(BASELINE + 16), anchor=anchor))
    return labels


def _summary(days: list[UsageDay], busiest: UsageDay) -> str:
    first, last = days[0].date.isoformat(), days[-1].date.isoformat()
    span = f"the last {len(days)} days, {first} to {last} (UTC)"
    total = sum(day.requests for day in days)
    if not total:
        return f"No requests in {span}."
    errors = sum(day.errors for day in days)
    rate_limited = sum(day.rate_limited for day in days)
    return (
        f"{total:,} {_plural(total, 'request')} in {span}: {errors:,} {_plural(errors, 'error')} "
        f"and {rate_limited:,} rate-limited (429) among them; the busiest day "
        f"{busiest.date.isoformat()}, {busiest.requests:,}."
    )


def _plural(count: int, word: str) -> str:
    return word if count == 1 else f"{word}s"

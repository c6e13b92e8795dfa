"""The admins' usage report: who generated what, when, and what it cost."""

import csv
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, Q, Sum, Value
from django.db.models.functions import Coalesce, TruncDate, TruncDay, TruncMonth, TruncWeek
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, pgettext_lazy

from generations.models import Generation

PERIODS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
PERIOD_LABELS = {
    "day": pgettext_lazy("usage report: per", "day"),
    "week": pgettext_lazy("usage report: per", "week"),
    "month": pgettext_lazy("usage report: per", "month"),
}
ZERO = Value(Decimal("0"), output_field=DecimalField(max_digits=12, decimal_places=6))
COST = Coalesce("credits_charged", "credits_consumed", ZERO)
CHART_COLOURS = ["#d4a017", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]


def generations_between(start, end):
    """Generations created on the dates start..end inclusive (local dates)."""
    tz = timezone.get_current_timezone()
    return Generation.objects.filter(
        created_at__gte=datetime.combine(start, time.min, tz),
        created_at__lt=datetime.combine(end + timedelta(days=1), time.min, tz),
    )


def _figures():
    return {
        "generations": Count("pk"),
        "successes": Count("pk", filter=Q(status=Generation.Status.SUCCESS)),
        "failures": Count("pk", filter=Q(status=Generation.Status.FAILED)),
        "spent": Sum(COST),
    }


def by_member(start, end, period="day"):
    trunc = PERIODS[period]
    return list(
        generations_between(start, end)
        .annotate(period=trunc("created_at"))
        .values("period", "owner__username")
        .annotate(**_figures())
        .order_by("period", "owner__username")
    )


def by_model(start, end):
    return list(
        generations_between(start, end)
        .values("model")
        .annotate(**_figures())
        .order_by("-spent", "model")
    )


def daily_spend(start, end):
    """{member: {date: spent}} for the chart."""
    rows = (
        generations_between(start, end)
        .annotate(day=TruncDate("created_at"))
        .values("day", "owner__username")
        .annotate(spent=Sum(COST))
    )
    series = {}
    for row in rows:
        series.setdefault(row["owner__username"], {})[row["day"]] = row["spent"] or Decimal(0)
    return series


def spend_chart_svg(series, start, end, width=720, height=220):
    """A line per member of daily spend, as inline SVG: no chart library, no CDN."""
    days = (end - start).days + 1
    top = max([v for points in series.values() for v in points.values()] + [Decimal(1)])
    pad = 30

    def x(day_index):
        return pad + (width - 2 * pad) * day_index / max(days - 1, 1)

    def y(value):
        return height - pad - (height - 2 * pad) * float(value) / float(top)

    lines = []
    legend = []
    for i, (member, points) in enumerate(sorted(series.items())):
        colour = CHART_COLOURS[i % len(CHART_COLOURS)]
        coords = " ".join(
            f"{x(d):.1f},{y(points.get(start + timedelta(days=d), 0)):.1f}" for d in range(days)
        )
        lines.append((colour, coords, member))
        legend.append((pad + 120 * i, colour, member))
    return format_html(
        '<svg class="spend-chart" role="img" aria-label="{label}" viewBox="0 0 {w} {h}"'
        ' width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg">'
        '<line x1="{p}" y1="{b}" x2="{r}" y2="{b}" stroke="#999"/>'
        '<text x="2" y="{t}" font-size="10">{top}</text>'
        '<text x="{p}" y="{h}" font-size="10">{start}</text>'
        '<text x="{r}" y="{h}" font-size="10" text-anchor="end">{end}</text>'
        "{lines}{legend}</svg>",
        # An image needs a name (axe: svg-img-alt); the table below it holds the figures.
        label=gettext("Credits spent per member and day, %(start)s to %(end)s")
        % {"start": start.isoformat(), "end": end.isoformat()},
        w=width,
        h=height,
        p=pad,
        r=width - pad,
        b=height - pad,
        t=pad,
        top=f"{top:.2f}",
        start=start.isoformat(),
        end=end.isoformat(),
        lines=format_html_join(
            "",
            '<polyline fill="none" stroke="{}" stroke-width="2" points="{}"><title>{}</title>'
            "</polyline>",
            lines,
        ),
        legend=format_html_join(
            "",
            '<text x="{}" y="14" font-size="11" fill="{}">■ {}</text>',
            legend,
        ),
    )


# The column names in the page's language; in English they are the fields' own names, as
# scripts reading the export expect.
CSV_HEADER = [
    pgettext_lazy("usage CSV column", "created_at"),
    pgettext_lazy("usage CSV column", "member"),
    pgettext_lazy("usage CSV column", "model"),
    pgettext_lazy("usage CSV column", "image_size"),
    pgettext_lazy("usage CSV column", "status"),
    pgettext_lazy("usage CSV column", "held"),
    pgettext_lazy("usage CSV column", "charged"),
    pgettext_lazy("usage CSV column", "upstream_consumed"),
    pgettext_lazy("usage CSV column", "over_hold"),
    pgettext_lazy("usage CSV column", "task_id"),
]


class _Echo:
    def write(self, value):
        return value


def csv_lines(start, end):
    """The export, one generation a line, streamed from a server-side cursor. The header is
    named now, in the request's language, not when the stream is read."""
    return _csv_lines([str(name) for name in CSV_HEADER], start, end)


def _csv_lines(header, start, end):
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    rows = (
        generations_between(start, end)
        .order_by("created_at")
        .values_list(
            "created_at",
            "owner__username",
            "model",
            "image_size",
            "status",
            "hold_amount",
            "credits_charged",
            "credits_consumed",
            "over_hold",
            "upstream_task_id",
        )
    )
    for row in rows.iterator(chunk_size=2000):
        yield writer.writerow([row[0].isoformat(), *("" if v is None else v for v in row[1:])])

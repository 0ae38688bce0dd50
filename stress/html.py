"""`--html FILE`: the run report as one self-contained page (inline SVG, no external assets)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from .report import RunReport
from .stats import fmt_ns

W, H, PAD = 640, 220, 40


def _svg_bars(
    bars: Sequence[tuple[str, float]], title: str, unit: str, *, log: bool = False
) -> str:
    """A bar chart: one bar per (label, value)."""
    if not bars:
        return f"<p>{html.escape(title)}: no data</p>"
    top = max(v for _, v in bars) or 1.0
    n = len(bars)
    bw = (W - 2 * PAD) / n
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H + 40}" '
        f'role="img" aria-label="{html.escape(title)}">',
        f'<text x="{W / 2}" y="16" text-anchor="middle" font-size="14">{html.escape(title)}</text>',
        f'<line x1="{PAD}" y1="{H}" x2="{W - PAD}" y2="{H}" stroke="#333"/>',
    ]
    for i, (label, v) in enumerate(bars):
        h = (H - 30) * (v / top)
        x = PAD + i * bw
        out.append(
            f'<rect x="{x + 1:.1f}" y="{H - h:.1f}" width="{max(bw - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="#4a7bd0"><title>{html.escape(label)}: '
            f"{v:,.0f} {unit}</title></rect>"
        )
        if n <= 12 or i % max(1, n // 8) == 0:
            out.append(
                f'<text x="{x + bw / 2:.1f}" y="{H + 14}" text-anchor="middle" '
                f'font-size="10">{html.escape(label)}</text>'
            )
    out.append(f'<text x="{PAD - 4}" y="{40}" text-anchor="end" font-size="10">{top:,.0f}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _svg_line(points: Sequence[tuple[float, float]], title: str, unit: str) -> str:
    if not points:
        return f"<p>{html.escape(title)}: no data</p>"
    xmax = max(x for x, _ in points) or 1.0
    ymax = max(y for _, y in points) or 1.0
    coords = " ".join(
        f"{PAD + (W - 2 * PAD) * x / xmax:.1f},{H - (H - 30) * y / ymax:.1f}" for x, y in points
    )
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H + 40}" role="img" '
            f'aria-label="{html.escape(title)}">',
            f'<text x="{W / 2}" y="16" text-anchor="middle" font-size="14">'
            f"{html.escape(title)}</text>",
            f'<line x1="{PAD}" y1="{H}" x2="{W - PAD}" y2="{H}" stroke="#333"/>',
            f'<polyline fill="none" stroke="#d0624a" stroke-width="2" points="{coords}"/>',
            f'<text x="{PAD - 4}" y="40" text-anchor="end" font-size="10">{ymax:,.0f} {unit}'
            "</text>",
            f'<text x="{W - PAD}" y="{H + 14}" text-anchor="end" font-size="10">'
            f"{xmax:.1f} s</text>",
            "</svg>",
        ]
    )


def render(report: RunReport) -> str:
    """The page: verdict, the text summary, and three charts."""
    waits = [(f"<={fmt_ns(b)}", float(n)) for b, n in report.wait_histogram]
    per_thread = [(name, float(n)) for name, n in report.ops_by_thread.items()]
    data: Any = report.throughput
    color = {"PASS": "#2a8a2a", "FAIL": "#c0392b"}.get(report.verdict, "#b07d00")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>stress run: {html.escape(report.scenario)}</title>",
            "<style>body{font-family:sans-serif;margin:2em;max-width:60em}"
            "pre{background:#f4f4f4;padding:1em;overflow-x:auto;font-size:12px}</style>",
            "</head><body>",
            f"<h1>stress run: {html.escape(report.scenario)}</h1>",
            f'<p>Result: <b style="color:{color}">{report.verdict}</b>. seed {report.seed}, '
            f"{report.duration_s:.2f} s, {report.ops:,} ops.</p>",
            "<h2>Handle waits</h2>",
            _svg_bars(waits, "handle waits (count per latency bucket)", "handles"),
            "<h2>Throughput over time</h2>",
            _svg_line([(float(t), float(r)) for t, r in data], "ops/s", "ops/s"),
            "<h2>Operations per thread</h2>",
            _svg_bars(per_thread, "operations per thread", "ops"),
            "<h2>Summary</h2>",
            f"<pre>{html.escape(report.summary())}</pre>",
            "</body></html>",
        ]
    )


def write_html(report: RunReport, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(render(report))

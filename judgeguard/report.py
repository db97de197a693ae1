"""The audit's HTML report: one self-contained file (inline CSS and SVG, no network)."""

from __future__ import annotations

import html
from typing import Any

from judgeguard.audit import AuditSummary, format_figure, summary_rows

__all__ = ["render_report"]

_CSS = """
:root { --ink:#1f2933; --muted:#616e7c; --line:#e4e7eb; --accent:#3b6fd8; --bad:#c2410c;
        --good:#15803d; --bg:#f8fafc; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 -apple-system, "Segoe UI", Roboto, Helvetica, Arial,
       sans-serif; color: var(--ink); background: var(--bg); }
main { max-width: 1120px; margin: 0 auto; padding: 32px 24px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 36px 0 12px; }
.sub { color: var(--muted); margin: 0 0 24px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 18px;
        box-shadow: 0 1px 2px rgba(0,0,0,.04); }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(330px, 1fr));
        gap: 18px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 7px 10px; border-bottom: 1px solid var(--line); text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
tr.overall td { font-weight: 600; border-top: 2px solid var(--ink); }
.note { color: var(--muted); font-size: 13px; margin-top: 8px; }
.case { border-left: 4px solid var(--bad); margin: 0 0 14px; }
.case .meta { font-size: 13px; color: var(--muted); margin-bottom: 6px; }
.case pre { white-space: pre-wrap; margin: 6px 0; font: 13px/1.45 ui-monospace, Menlo,
            Consolas, monospace; background: var(--bg); padding: 10px; border-radius: 6px;
            max-height: 260px; overflow: auto; }
.pill { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px;
        background: #fde8e1; color: var(--bad); margin-right: 6px; }
svg text { font: 12px -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
           fill: var(--muted); }
"""

_PALETTE = ["#3b6fd8", "#c2410c", "#15803d", "#7c3aed", "#b45309", "#0e7490", "#be185d", "#4d7c0f"]


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _scatter(rows: list[tuple[str, dict[str, Any]]]) -> str:
    """Outcome accuracy (x) vs rationale consistency (y) per judge (the paper's Figure 1)."""
    w, h, pad = 460, 340, 48
    pts = [(n, r["outcome_accuracy"], r["rc"]) for n, r in rows if n != "overall"]
    usable = [(n, x, y) for n, x, y in pts if x is not None and y is not None]
    parts = [
        f'<svg viewBox="0 0 {w} {h}" width="100%" role="img" '
        f'aria-label="Outcome accuracy versus rationale consistency per judge">'
    ]
    for i in range(6):
        v = i / 5
        x = pad + v * (w - 2 * pad)
        y = h - pad - v * (h - 2 * pad)
        parts.append(
            f'<line x1="{x:.1f}" y1="{pad}" x2="{x:.1f}" y2="{h - pad}" stroke="#eef0f3"/>'
        )
        parts.append(
            f'<line x1="{pad}" y1="{y:.1f}" x2="{w - pad}" y2="{y:.1f}" stroke="#eef0f3"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{h - pad + 16}" text-anchor="middle">{int(v * 100)}%</text>'
        )
        parts.append(
            f'<text x="{pad - 6}" y="{y + 4:.1f}" text-anchor="end">{int(v * 100)}%</text>'
        )
    parts.append(
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{pad}" '
        'stroke="#cbd2d9" stroke-dasharray="4 4"/>'
    )
    parts.append(f'<text x="{w / 2}" y="{h - 8}" text-anchor="middle">outcome accuracy</text>')
    parts.append(
        f'<text transform="translate(14 {h / 2}) rotate(-90)" text-anchor="middle">'
        "rationale consistency (RC)</text>"
    )
    for i, (name, x, y) in enumerate(usable):
        cx = pad + x * (w - 2 * pad)
        cy = h - pad - y * (h - 2 * pad)
        color = _PALETTE[i % len(_PALETTE)]
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="7" fill="{color}" '
            f'fill-opacity=".85"><title>{_e(name)}: accuracy {x:.1%}, RC {y:.1%}'
            "</title></circle>"
        )
        right = x > 0.7  # keep labels inside the plot: right-hand points label leftwards
        parts.append(
            f'<text x="{cx - 10 if right else cx + 10:.1f}" y="{cy + 4:.1f}" '
            f'text-anchor="{"end" if right else "start"}" style="fill:{color}">{_e(name)}</text>'
        )
    if not usable:
        parts.append(
            f'<text x="{w / 2}" y="{h / 2}" text-anchor="middle">needs labels and a '
            "MetaJudge</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _histogram(values: list[float], title: str, color: str) -> str:
    w, h, pad, bins = 460, 220, 40, 10
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int(v * bins)))] += 1
    top = max(counts) or 1
    bw = (w - 2 * pad) / bins
    parts = [f'<svg viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="{_e(title)}">']
    for i, c in enumerate(counts):
        bh = (h - 2 * pad) * c / top
        x = pad + i * bw
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{h - pad - bh:.1f}" width="{bw - 2:.1f}" '
            f'height="{bh:.1f}" fill="{color}" rx="2"><title>{i / bins:.1f}–'
            f"{(i + 1) / bins:.1f}: {c}</title></rect>"
        )
    for i in range(0, bins + 1, 2):
        parts.append(
            f'<text x="{pad + i * bw:.1f}" y="{h - pad + 16}" text-anchor="middle">'
            f"{i / bins:.1f}</text>"
        )
    parts.append(
        f'<text x="{pad}" y="{pad - 12}">{_e(title)} · n={len(values)} · max bin {top}</text>'
    )
    if not values:
        parts.append(
            f'<text x="{w / 2}" y="{h / 2}" text-anchor="middle">no checked judgments</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _confusion(conf: dict[str, dict[str, int]]) -> str:
    labels = ["A", "tie", "B"]
    if not conf:
        return '<p class="note">No pair appears in both orders.</p>'
    top = max((v for row in conf.values() for v in row.values()), default=1) or 1
    head = "".join(f"<th>{_e(c)}</th>" for c in labels)
    body = []
    for r in labels:
        cells = []
        for c in labels:
            v = conf.get(r, {}).get(c, 0)
            alpha = 0.12 + 0.75 * v / top if v else 0
            tone = "59,111,216" if r == c else "194,65,12"
            cells.append(f'<td style="background:rgba({tone},{alpha:.2f})">{v}</td>')
        body.append(f"<tr><td>{_e(r)}</td>{''.join(cells)}</tr>")
    return (
        f"<table><tr><th>original order ↓ / swapped, mirrored →</th>{head}</tr>"
        f"{''.join(body)}</table><p class='note'>Winners of the two orders of each pair; "
        "the diagonal is agreement.</p>"
    )


def render_report(summary: AuditSummary, source: str) -> str:
    """The report as one HTML string."""
    rows = summary_rows(summary)
    cols = [
        ("n", "n"),
        ("parse_rate", "parsed"),
        ("outcome_accuracy", "accuracy"),
        ("swap_agreement", "swap agr."),
        ("rc", "RC"),
        ("mean_r_rationale", "R_rationale"),
        ("mean_reward", "reward"),
        ("flagged_rate", "flagged"),
        ("deceptive_rate", "deceptive"),
        ("errors", "errors"),
    ]
    head = "".join(f"<th>{_e(label)}</th>" for _, label in cols)
    trs = []
    for name, figures in rows:
        cells = []
        for key, _ in cols:
            cells.append(f"<td>{_e(format_figure(key, figures[key]))}</td>")
        cls = ' class="overall"' if name == "overall" else ""
        trs.append(f"<tr{cls}><td>{_e(name)}</td>{''.join(cells)}</tr>")
    cases = []
    for case in summary.flagged[:50]:
        cases.append(
            '<div class="card case"><div class="meta">'
            f'<span class="pill">R_rationale {case.get("r_rationale") or 0:.2f}</span>'
            f"line {_e(case.get('line'))} · judge {_e(case.get('judge'))} · verdict "
            f"<b>{_e(case.get('verdict'))}</b> · supported {_e(case.get('supported') or '–')}"
            f" · label {_e(case.get('label') or '–')}</div>"
            f"<pre>{_e(case.get('rationale') or '')}</pre>"
            f'<div class="note">MetaJudge: {_e(case.get("explanation") or "–")}</div></div>'
        )
    no_mj = (
        ""
        if summary.metajudge
        else (
            '<p class="note">No MetaJudge was configured, so RC, R_rationale, rewards and flags '
            "are empty. Run with <code>--metajudge MODEL</code> (any litellm model) or set "
            "<code>JUDGEGUARD_METAJUDGE</code>.</p>"
        )
    )
    failed = ""
    if summary.overall.errors:
        items = "".join(
            f"<li><b>{_e(reason)}</b> × {count}: "
            f"{_e(summary.error_examples.get(reason, '')[:300])}</li>"
            for reason, count in summary.overall.error_reasons.most_common()
        )
        failed = (
            f"<h2>Failed checks ({summary.overall.errors} of {summary.overall.attempted})</h2>"
            f'<div class="card"><ul>{items}</ul><p class="note">Failed checks count in no '
            "figure above; rerun to retry them (finished checks come from the cache).</p></div>"
        )
    malformed = ""
    if summary.malformed:
        items = "".join(f"<li>line {n}: {_e(msg)}</li>" for n, msg in summary.malformed[:50])
        malformed = f"<h2>Malformed lines ({len(summary.malformed)})</h2><ul>{items}</ul>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport"
content="width=device-width, initial-scale=1"><title>judgeguard audit · {_e(source)}</title>
<style>{_CSS}</style></head><body><main>
<h1>Judge reliability audit</h1>
<p class="sub">{_e(source)} · {summary.lines} lines · MetaJudge
{_e(summary.metajudge or "none")}{" · interrupted (partial)" if summary.interrupted else ""}
</p>
<div class="card"><table><tr><th>judge</th>{head}</tr>{"".join(trs)}</table>
<p class="note">Accuracy: parsed lines with a label. Swap agreement: pairs parsed in both
orders, winners compared after mirroring. RC: share of checked judgments whose rationale
supports the verdict. Deceptive: label-correct verdicts whose rationale does not support
them.</p>{no_mj}</div>
<h2>Outcome accuracy vs rationale consistency</h2>
<div class="grid"><div class="card">{_scatter(rows)}</div>
<div class="card"><h3 style="margin-top:0">Position swap</h3>
{_confusion(summary.swap_confusion)}</div></div>
<h2>Distributions</h2>
<div class="grid"><div class="card">{_histogram(summary.r_values, "R_rationale", "#3b6fd8")}
</div><div class="card">{_histogram(summary.rewards, "gated reward", "#15803d")}</div></div>
<h2>Flagged for review ({len(summary.flagged)}{"+" if len(summary.flagged) >= 200 else ""})
</h2>{"".join(cases) or '<p class="note">Nothing flagged.</p>'}
{failed}
{malformed}
</main></body></html>
"""

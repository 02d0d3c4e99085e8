"""``report.html``: one self-contained page (styles, scripts and SVG plots inline; no network).

It opens with a scorecard per family (ok / warn / fail / undefined / skipped), then the gates, then each
family's metrics with their details, worst offenders and plots. Hovering a point of the
embedding map shows its text.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from tether.io._private import atomic_write_text

COLORS = {"ok": "#1a7f37", "warn": "#b58100", "fail": "#cf222e", "skipped": "#6e7781", "undefined": "#8250df"}
SERIES = {"synthetic": "#d1495b", "reference": "#00798c"}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:10px;margin:16px 0}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px 12px;border-left:6px solid}
.card b{display:block;text-transform:capitalize}.card a{color:inherit;text-decoration:none}
.st{font-weight:600;text-transform:uppercase;font-size:12px}
table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0}
td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eaeef2}.num{font-variant-numeric:tabular-nums;white-space:nowrap}
details{margin:2px 0}summary{cursor:pointer;color:#0969da}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;margin:4px 0;padding:6px;max-height:240px;overflow:auto}
.muted{color:#57606a}.plot{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:8px;margin:8px 0}
#tip{position:fixed;pointer-events:none;display:none;max-width:420px;background:#1f2328;color:#fff;
padding:6px 8px;border-radius:6px;font-size:12px;z-index:10}
"""

JS = """
(function(){
  var tip=document.getElementById('tip');
  document.querySelectorAll('svg.map circle').forEach(function(c){
    c.addEventListener('mouseenter',function(e){
      tip.textContent='['+c.getAttribute('data-set')+'] '+c.getAttribute('data-id')+': '+c.getAttribute('data-text');
      tip.style.display='block';c.setAttribute('r','6');
    });
    c.addEventListener('mousemove',function(e){tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';});
    c.addEventListener('mouseleave',function(){tip.style.display='none';c.setAttribute('r','3');});
  });
})();
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return "–"
        return f"{v:.4g}"
    return _e(v)


def _scorecard(report: dict[str, Any]) -> str:
    metrics = report.get("metrics", [])
    cards = []
    for fam, st in report.get("scorecard", {}).items():
        n = sum(1 for m in metrics if m["family"] == fam)
        bad = sum(1 for m in metrics if m["family"] == fam and m["status"] in ("warn", "fail"))
        undef = sum(1 for m in metrics if m["family"] == fam and m["status"] == "undefined")
        why = report.get("skipped", {}).get(fam, "")
        sub = _e(why) if st == "skipped" else f"{n} metrics, {bad} flagged" + (f", {undef} undefined" if undef else "")
        cards.append(f'<div class="card" id="card-{_e(fam)}" style="border-left-color:{COLORS.get(st, "#999")}">'
                     f'<a href="#fam-{_e(fam)}"><b>{_e(fam)}</b><span class="st" style="color:{COLORS.get(st)}">'
                     f'{_e(st)}</span><div class="muted">{sub}</div></a></div>')
    return '<div class="cards">' + "".join(cards) + "</div>"


def _gates(report: dict[str, Any]) -> str:
    gates = report.get("gates", [])
    if not gates:
        return '<p class="muted">No gates were set.</p>'
    rows = "".join(
        f'<tr><td>{_e(g["metric"])}</td><td>{_e(g["rule"])}</td><td class="num">{_fmt(g["value"])}</td>'
        f'<td style="color:{COLORS["ok" if g["passed"] else "fail"]}"><b>{"passed" if g["passed"] else "FAILED"}'
        f'</b> {_e(g.get("note", ""))}</td></tr>' for g in gates)
    return f"<table><tr><th>metric</th><th>rule</th><th>value</th><th>result</th></tr>{rows}</table>"


def _offenders(m: dict[str, Any]) -> str:
    offs = m.get("offenders") or []
    if not offs:
        return ""
    items = "".join(
        f"<pre>{_e(o.get('id'))} (score {_fmt(o.get('score'))})"
        + "".join(f" {_e(k)}={_e(v)}" for k, v in o.items() if k not in ("id", "score", "text"))
        + f"\n{_e(o.get('text', ''))}</pre>" for o in offs)
    return f"<details><summary>worst {len(offs)} records</summary>{items}</details>"


def _metric_rows(metrics: list[dict[str, Any]]) -> str:
    rows = []
    for m in metrics:
        ci = m.get("ci")
        ci_s = f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "–"
        hib = {True: "higher is better", False: "lower is better", None: ""}[m.get("higher_is_better")]
        details = json.dumps(m.get("details", {}), indent=1, ensure_ascii=False)
        if len(details) > 6000:
            details = details[:6000] + "\n…"
        st = m["status"]
        rows.append(
            f'<tr id="m-{_e(m["name"])}"><td><b>{_e(m["metric"])}</b><div class="muted">{_e(m["description"])} {hib}</div>'
            + "".join(f'<div style="color:{COLORS.get(st)}">{_e(n)}</div>' for n in m.get("notes", []))
            + f'<details><summary>details</summary><pre>{_e(details)}</pre></details>{_offenders(m)}</td>'
            f'<td class="num">{_fmt(m.get("value"))}</td><td class="num">{ci_s}</td><td class="num">{m.get("n")}</td>'
            f'<td class="st" style="color:{COLORS.get(st)}">{_e(st)}</td></tr>')
    return ("<table><tr><th>metric</th><th>value</th><th>95% CI</th><th>n</th><th>status</th></tr>"
            + "".join(rows) + "</table>")


def _lines_svg(plot: dict[str, Any], title: str, w: int = 640, h: int = 260) -> str:
    edges = plot.get("edges") or []
    series = plot.get("series") or {}
    if len(edges) < 2 or not series:
        return ""
    xs = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=False)]
    ymax = max((max(v) for v in series.values() if v), default=1.0) or 1.0
    x0, x1 = xs[0], xs[-1] if xs[-1] != xs[0] else xs[0] + 1
    pad = 40

    def px(x: float) -> float:
        return pad + (x - x0) / (x1 - x0) * (w - 2 * pad)

    def py(y: float) -> float:
        return h - pad - y / ymax * (h - 2 * pad)

    parts = [f'<svg class="lines" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{_e(title)}">',
             f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#888"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#888"/>',
             f'<text x="{w / 2}" y="{h - 8}" text-anchor="middle" font-size="11">{_e(plot.get("x_label", ""))}</text>',
             f'<text x="{pad}" y="{h - pad + 14}" font-size="10">{x0:.2f}</text>',
             f'<text x="{w - pad}" y="{h - pad + 14}" font-size="10" text-anchor="end">{x1:.2f}</text>']
    for i, (name, ys) in enumerate(series.items()):
        pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys, strict=False))
        c = SERIES.get(name, "#555")
        parts.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="{pts}"/>')
        parts.append(f'<text x="{w - pad - 90}" y="{pad + 14 * i}" font-size="11" fill="{c}">{_e(name)}</text>')
    parts.append("</svg>")
    return f'<div class="plot"><b>{_e(title)}</b><br>{"".join(parts)}</div>'


def _map_svg(plot: dict[str, Any], w: int = 640, h: int = 460) -> str:
    pts = plot.get("points") or []
    if not pts:
        return ""
    xs = [p["x"] for p in pts]
    ys = [p["y"] for p in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    sx = (w - 20) / ((x1 - x0) or 1)
    sy = (h - 20) / ((y1 - y0) or 1)
    circles = "".join(
        f'<circle cx="{10 + (p["x"] - x0) * sx:.1f}" cy="{h - 10 - (p["y"] - y0) * sy:.1f}" r="3" '
        f'fill="{SERIES.get(p["set"], "#555")}" fill-opacity="0.6" data-set="{_e(p["set"])}" '
        f'data-id="{_e(p["id"])}" data-text="{_e(p["text"])}"></circle>' for p in pts)
    legend = " ".join(f'<span style="color:{c}">● {n}</span>' for n, c in SERIES.items())
    return (f'<div class="plot"><b>Embedding map (PCA of sentence embeddings)</b> {legend} '
            f'<span class="muted">hover a point to read its text</span><br>'
            f'<svg class="map" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
            f'aria-label="embedding map">{circles}</svg></div>')


def render_html(report: dict[str, Any]) -> str:
    """The report as one HTML string."""
    meta = report.get("meta", {})
    sizes = ", ".join(f"{_e(k)}: {v}" for k, v in meta.get("sizes", {}).items())
    cols = "; ".join(f"{_e(k)}: " + ", ".join(f"{_e(c)} ({n})" for c, n in v.items())
                     for k, v in meta.get("text_columns", {}).items())
    body = [f"<h1>tether audit</h1><div class='muted'>{sizes}; embedder {_e(meta.get('embedder'))}; "
            f"{_fmt(meta.get('seconds'))} s</div>"
            + (f"<div class='muted' id='text-columns'>text measured (column: records): {cols}</div>" if cols else ""),
            _scorecard(report), "<h2>Gates</h2>", _gates(report)]
    plots = report.get("plots", {})
    for fam, st in report.get("scorecard", {}).items():
        ms = [m for m in report.get("metrics", []) if m["family"] == fam]
        body.append(f'<h2 id="fam-{_e(fam)}">{_e(fam.capitalize())} <span class="st" style="color:{COLORS.get(st)}">'
                    f"{_e(st)}</span></h2>")
        if not ms:
            body.append(f'<p class="muted">Skipped: {_e(report.get("skipped", {}).get(fam, "no metrics"))}</p>')
            continue
        body.append(_metric_rows(ms))
        if fam == "fidelity":
            if "token_frequency" in plots:
                body.append(_lines_svg(plots["token_frequency"], "Token-frequency density, synthetic vs reference"))
            if "embedding_map" in plots:
                body.append(_map_svg(plots["embedding_map"]))
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width,initial-scale=1'><title>tether audit</title>"
            f"<style>{CSS}</style></head><body><main>{''.join(body)}</main><div id='tip'></div>"
            f"<script>{JS}</script></body></html>")


def write_html(report: dict[str, Any], path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(p, render_html(report))
    return p


__all__ = ["render_html", "write_html"]

"""The HTML report: one self-contained page (inline CSS and script, figures as PNG files beside
it) that opens from disk without network access."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

from .tables import Table, fmt, tables_for

__all__ = ["render"]

_CSS = """
:root { --held: #1b7f3b; --partly: #b26a00; --failed: #b3261e; --skipped: #5f6368; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1180px; padding: 1.5em 2em 4em; color: #1f1f1f; background: #fff; }
h1 { margin-bottom: .2em; } h2 { margin-top: 2.2em; border-bottom: 2px solid #ddd; }
.meta { color: #555; font-size: 13px; }
.badge { display: inline-block; padding: .1em .7em; border-radius: 1em; color: #fff;
         font-weight: 600; font-size: 13px; text-transform: uppercase; letter-spacing: .03em; }
.held { background: var(--held); } .partly { background: var(--partly); }
.failed { background: var(--failed); } .skipped { background: var(--skipped); }
blockquote { margin: .6em 0; padding: .4em 1em; border-left: 4px solid #ccc; background: #f7f7f7; }
table { border-collapse: collapse; margin: .8em 0 1.4em; font-size: 13px; }
caption { text-align: left; font-style: italic; padding-bottom: .3em; color: #444; }
th, td { border: 1px solid #d0d0d0; padding: .25em .6em; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
td.pass { color: var(--held); font-weight: 600; }
td.fail { color: var(--failed); font-weight: 600; }
tr.caveat td { color: #666; } b { font-weight: 700; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 13px; color: #444; max-width: 900px; }
details { margin: .5em 0 1em; } pre { background: #f6f8fa; padding: .8em; overflow-x: auto;
font-size: 12px; }
"""

# Marks the page with how many figures loaded and any script error, for headless checks.
_SCRIPT = """
(function () {
  var errors = [];
  window.addEventListener('error', function (e) {
    errors.push(String(e.message || (e.target && e.target.src) || 'error'));
  }, true);
  window.addEventListener('load', function () {
    var imgs = Array.prototype.slice.call(document.images);
    var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
    var s = document.getElementById('load-status');
    s.setAttribute('data-figures', String(imgs.length));
    s.setAttribute('data-loaded', String(ok));
    s.setAttribute('data-errors', String(errors.length));
    s.textContent = ok + ' of ' + imgs.length + ' figures loaded' +
      (errors.length ? '; errors: ' + errors.join('; ') : '');
  });
})();
"""


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


def _table(t: Table) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in t.header)
    body = []
    for i, row in enumerate(t.rows):
        cells = []
        for j, c in enumerate(row):
            txt = _e(c)
            cells.append(f"<td><b>{txt}</b></td>" if (i, j) in t.bold else f"<td>{txt}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<table><caption>{_e(t.caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _checks(verdict: Mapping[str, Any]) -> str:
    rows = []
    for c in verdict["checks"]:
        cls = "pass" if c["passed"] else "fail"
        mark = "pass" if c["passed"] else "fail"
        kind = "" if c["counts"] else ' class="caveat"'
        rows.append(
            f"<tr{kind}><td>{_e(c['id'])}</td><td style='text-align:left'>"
            f"{_e(c['description'])}</td><td>{_e(fmt(c['value'], 4))}</td>"
            f"<td>{_e(c['op'])} {_e(fmt(c['threshold'], 4))}</td><td class='{cls}'>{mark}"
            f"{'' if c['counts'] else ' (caveat, not counted)'}</td></tr>"
        )
    return (
        "<table><caption>Checks behind the verdict (value computed from the results, threshold "
        f"from losslab.lab.verdicts). Rule: {_e(verdict['rule'])}.</caption><thead><tr>"
        "<th>check</th><th>what is measured</th><th>value</th><th>threshold</th><th>result</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def render(report: Mapping[str, Any]) -> str:
    """The report page for a results dict as written to results.json (see
    :func:`losslab.lab.report.run_report`)."""
    exps = report["experiments"]
    summary_rows = "".join(
        f"<tr><td><a href='#{_e(name)}'>{_e(e['title'])}</a></td>"
        f"<td><span class='badge {_e(e['verdict']['status'])}'>{_e(e['verdict']['status'])}"
        f"</span></td><td>{_e(e['verdict']['summary'])}</td><td>{fmt(e['time_s'], 3)} s</td></tr>"
        for name, e in exps.items()
    )
    sections = []
    for name, e in exps.items():
        v = e["verdict"]
        figs = "".join(
            f"<figure><img src='{_e(f['file'])}' alt='{_e(f['caption'])}'>"
            f"<figcaption>{_e(f['caption'])}</figcaption></figure>"
            for f in e["figures"]
        )
        tables = "".join(_table(t) for t in tables_for(name, e["results"]))
        params = _e(json.dumps(e["parameters"], indent=2))
        sections.append(
            f"<section id='{_e(name)}'><h2>{_e(e['title'])} "
            f"<span class='badge {_e(v['status'])}'>{_e(v['status'])}</span></h2>"
            f"<blockquote>Claim: {_e(e['claim'])}</blockquote>"
            f"<p><b>Verdict: {_e(v['summary'])}.</b></p>{_checks(v)}{tables}{figs}"
            f"<details><summary>Parameters</summary><pre>{params}</pre></details>"
            f"<p class='meta'>Run time: {fmt(e['time_s'], 3)} s</p></section>"
        )
    versions = ", ".join(f"{_e(k)} {_e(v)}" for k, v in report["versions"].items())
    csp = (
        "default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>losslab report</title><style>{_CSS}</style>
<script>{_SCRIPT}</script></head>
<body>
<h1>losslab report</h1>
<p class="meta">Mode <b>{_e(report["mode"])}</b>, seed <b>{_e(report["seed"])}</b>,
created {_e(report["created_utc"])}, total {fmt(report["timings_s"]["total"], 3)} s.
Versions: {versions}. Every number is in <a href="results.json">results.json</a>;
the method and thresholds are explained in docs/lab.md.</p>
<p class="meta" id="load-status">figures not checked (scripts disabled?)</p>
<table><caption>The experiments behind losslab's three claims and what the numbers say.</caption>
<thead><tr><th>experiment</th><th>verdict</th><th>checks</th><th>time</th></tr></thead>
<tbody>{summary_rows}</tbody></table>
{"".join(sections)}
</body></html>
"""

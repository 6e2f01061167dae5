"""The rules audit as Markdown or as one self-contained HTML page (sortable, filterable).

The HTML page loads nothing: its CSS and script are inline and a Content-Security-Policy
forbids every fetch, so it can be mailed or archived as one file. Every value is escaped;
the script only reads and reorders the table, it never writes markup.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from anonymiser.reporting import choose_format, md_cell, md_table
from anonymiser.rules.audit import AuditReport, AuditRow

__all__ = ["AUDIT_FORMATS", "audit_renderer", "render_audit", "render_html", "render_markdown"]

_COLUMNS: list[tuple[str, Callable[[AuditRow], str], bool]] = [
    # header, value, needs the source catalog
    ("table", lambda r: r.table, False),
    ("column", lambda r: r.column, False),
    ("type", lambda r: r.pg_type, True),
    ("keys", lambda r: r.keys, True),
    ("strategy", lambda r: r.strategy or "(no rule)", False),
    ("parameters", lambda r: r.params, False),
    ("namespace", lambda r: r.namespace, False),
    ("classification", lambda r: r.classification, False),
    ("reason", lambda r: r.reason, False),
    ("check", lambda r: r.status, True),
]


def _columns(report: AuditReport) -> list[tuple[str, Callable[[AuditRow], str]]]:
    return [(h, f) for h, f, needs in _COLUMNS if report.source_read or not needs]


def _summary(report: AuditReport) -> list[tuple[str, str]]:
    source = (
        "read: types, key roles and coverage checked against the live schema"
        if report.source_read
        else "not read: types, key roles and coverage not checked (pass --source)"
    )
    out = [
        ("rules hash", report.rules_hash),
        ("rules folder", f"{report.rules_dir} ({report.rules_files} files)"),
        ("dataset", report.dataset or "every table the rules name"),
        ("source schema", source),
        ("tables", str(report.tables)),
        ("columns", str(len(report.rows))),
        ("generated", f"{report.generated_at} by anonymiser {report.tool_version}"),
    ]
    if report.source_read:
        out.append(("columns without a rule", str(len(report.missing))))
        out.append(("rules for no column", str(len(report.stale))))
    return out


def _findings(report: AuditReport) -> list[str]:
    """One line per coverage gap and lint problem (only when the source was read)."""
    lines = [f"no rule: {r.table}.{r.column} ({r.pg_type})" for r in report.missing]
    lines += [f"rule for nothing: {p}" for p in report.stale]
    lines += [str(p) for p in report.other_problems]
    return lines


def render_markdown(report: AuditReport) -> str:
    parts = ["# Masking rules audit\n\n", md_table(["", ""], _summary(report))]
    parts += ["\n## Columns by strategy\n\n", md_table(["strategy", "columns"], _counts(report))]
    parts += [
        "\n## Columns by classification\n\n",
        md_table(["classification", "columns"], _classes(report)),
    ]
    if report.source_read or report.problems:
        findings = _findings(report) if report.source_read else [str(p) for p in report.problems]
        parts.append("\n## Findings\n\n")
        parts.append("".join(f"- {md_cell(f)}\n" for f in findings) or "None.\n")
    columns = _columns(report)
    parts += ["\n## Columns\n\n", md_table([h for h, _ in columns], _cells(report, columns))]
    return "".join(parts)


def _counts(report: AuditReport) -> list[tuple[str, str]]:
    return [(k, str(v)) for k, v in report.by_strategy()]


def _classes(report: AuditReport) -> list[tuple[str, str]]:
    return [(k, str(v)) for k, v in report.by_classification()]


def _cells(
    report: AuditReport, columns: list[tuple[str, Callable[[AuditRow], str]]]
) -> list[list[str]]:
    return [[value(row) for _, value in columns] for row in report.rows]


_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1b1b1b; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 1.5rem; }
table { border-collapse: collapse; }
th, td { border: 1px solid #c8c8c8; padding: .25rem .5rem; text-align: left; vertical-align: top; }
.summary th { background: #f3f3f3; }
.counts { display: flex; gap: 2rem; flex-wrap: wrap; }
#columns thead th { position: sticky; top: 0; background: #e8eef6; }
#columns th button { all: unset; cursor: pointer; font-weight: 600; }
#columns th[aria-sort=ascending] button::after { content: " \\25B2"; }
#columns th[aria-sort=descending] button::after { content: " \\25BC"; }
#columns td { overflow-wrap: break-word; max-width: 32rem; }
tr.problem td { background: #fde8e8; }
.controls { margin: .5rem 0; display: flex; gap: 1rem; align-items: center; }
code { font-size: 12px; }
"""

_SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("columns");
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var filter = document.getElementById("filter");
  var strategy = document.getElementById("strategy");
  var shown = document.getElementById("shown");
  var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});
  function apply() {
    var words = filter.value.toLowerCase().trim();
    var wanted = strategy.value;
    var count = 0;
    rows.forEach(function (row) {
      var hit = (!wanted || row.getAttribute("data-strategy") === wanted) &&
        (!words || row.textContent.toLowerCase().indexOf(words) !== -1);
      row.hidden = !hit;
      if (hit) { count += 1; }
    });
    shown.textContent = count + " of " + rows.length + " columns shown";
  }
  var headers = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(headers, function (th, index) {
    th.querySelector("button").addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      rows.sort(function (a, b) {
        var c = collator.compare(a.cells[index].textContent, b.cells[index].textContent);
        return ascending ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
  filter.addEventListener("input", apply);
  strategy.addEventListener("change", apply);
  apply();
})();
"""

# nothing may be fetched: no URL, font, image or script outside this file
_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _pairs_table(rows: list[tuple[str, str]], header: tuple[str, str] | None = None) -> str:
    head = f"<tr><th>{_e(header[0])}</th><th>{_e(header[1])}</th></tr>" if header else ""
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="summary">{head}{body}</table>'


def render_html(report: AuditReport) -> str:
    columns = _columns(report)
    strategies = sorted({row.strategy or "(no rule)" for row in report.rows})
    options = "".join(f'<option value="{_e(s)}">{_e(s)}</option>' for s in strategies)
    head = "".join(
        f'<th scope="col"><button type="button">{_e(h)}</button></th>' for h, _ in columns
    )
    body = []
    for row in report.rows:
        problem = report.source_read and row.status != "ok"
        where = f' title="{_e(f"{row.file}:{row.line}")}"' if row.file else ""
        cells = "".join(
            f"<td{where if h == 'column' else ''}>{_e(value(row))}</td>" for h, value in columns
        )
        css = ' class="problem"' if problem else ""
        body.append(f'<tr data-strategy="{_e(row.strategy or "(no rule)")}"{css}>{cells}</tr>')
    findings = ""
    if report.source_read or report.problems:
        items = _findings(report) if report.source_read else [str(p) for p in report.problems]
        listed = "".join(f"<li>{_e(f)}</li>" for f in items) or "<li>None.</li>"
        findings = f"<h2>Findings</h2><ul>{listed}</ul>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Masking rules audit</title>
<style>{_CSS}</style>
</head>
<body>
<h1>Masking rules audit</h1>
{_pairs_table(_summary(report))}
<div class="counts">
<div><h2>Columns by strategy</h2>{_pairs_table(_counts(report), ("strategy", "columns"))}</div>
<div><h2>Columns by classification</h2>
{_pairs_table(_classes(report), ("classification", "columns"))}</div>
</div>
{findings}
<h2>Columns</h2>
<div class="controls">
<label>Filter <input id="filter" type="search" placeholder="any text in the row"></label>
<label>Strategy <select id="strategy"><option value="">all</option>{options}</select></label>
<span id="shown" aria-live="polite"></span>
</div>
<table id="columns">
<thead><tr>{head}</tr></thead>
<tbody>
{chr(10).join(body)}
</tbody>
</table>
<script>{_SCRIPT}</script>
</body>
</html>
"""


AUDIT_FORMATS: dict[str, Callable[[AuditReport], str]] = {
    "md": render_markdown,
    "html": render_html,
}


def audit_renderer(fmt: str) -> Callable[[AuditReport], str]:
    """The renderer of `fmt` (md or html); ConfigError naming the choices for any other."""
    return choose_format(AUDIT_FORMATS, fmt, "audit")


def render_audit(report: AuditReport, fmt: str) -> str:
    """The report as text in `fmt` (md or html)."""
    return audit_renderer(fmt)(report)

"""`snapshot diff` output: plain text for a terminal, Markdown for a review, JSON for tools."""

from __future__ import annotations

import json
from collections.abc import Callable

from anonymiser.diff import Change, Pair, RowCount, SnapshotDiff
from anonymiser.reporting import choose_format, md_cell, md_table

__all__ = ["DIFF_FORMATS", "diff_renderer", "render_diff"]

_MARK = {"added": "+", "removed": "-", "changed": "~"}


def _setting(pair: Pair, what: str) -> str:
    if pair.old is None and pair.new is None:
        return f"{what}: none (not masked)"
    if not pair.changed:
        return f"{what}: unchanged ({pair.old})"
    return f"{what}: CHANGED {pair.old or 'none'} -> {pair.new or 'none'}"


def _settings(d: SnapshotDiff) -> list[str]:
    definition = d.definition_note or (
        f"dataset definition: {len(d.definition)} change(s)"
        if d.definition
        else "dataset definition: unchanged"
    )
    return [
        f"created: {d.created.old} -> {d.created.new}",
        _setting(d.tool_version, "tool version"),
        _setting(d.key_fingerprint, "masking key fingerprint"),
        _setting(d.rules_hash, "rules hash"),
        definition,
    ]


def _percent(r: RowCount) -> str:
    if r.old is None:
        return "new table"
    if r.new is None:
        return "table removed"
    return "-" if r.percent is None else f"{r.percent:+.1f}%"


def _row_cells(r: RowCount) -> list[str]:
    old = "-" if r.old is None else str(r.old)
    new = "-" if r.new is None else str(r.new)
    return [r.table, old, new, f"{r.delta:+d}", _percent(r)]


def _change_line(c: Change) -> str:
    return f"  {_MARK.get(c.kind, '?')} {c.subject}: {c.detail}"


def render_text(d: SnapshotDiff) -> str:
    lines = [f"{d.dataset}: version {d.versions.old} -> {d.versions.new}"]
    lines += [f"  {s}" for s in _settings(d)]
    lines += [f"  {c.subject}: {c.detail}" for c in d.definition]
    lines.append(f"rules: {len(d.rules)} change(s), from {d.rules_basis}")
    lines += [_change_line(c) for c in d.rules]
    lines.append(f"schema: {len(d.schema)} change(s)")
    lines += [_change_line(c) for c in d.schema]
    lines.append("rows:")
    cells = [["table", "old", "new", "delta", "%"], *(_row_cells(r) for r in d.rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(5)]
    for row in cells:
        lines.append(
            "  "
            + row[0].ljust(widths[0])
            + "".join("  " + v.rjust(w) for v, w in zip(row[1:], widths[1:], strict=True))
        )
    return "\n".join(lines) + "\n"


def _changes_md(title: str, changes: list[Change], note: str = "") -> str:
    head = f"\n## {title}\n\n" + (f"{md_cell(note)}\n\n" if note else "")
    if not changes:
        return head + "No changes.\n"
    return head + md_table(["", "what", "change"], ((c.kind, c.subject, c.detail) for c in changes))


def render_markdown(d: SnapshotDiff) -> str:
    parts = [
        f"# {md_cell(d.dataset)}: {md_cell(d.versions.old)} -> {md_cell(d.versions.new)}\n\n",
        "".join(f"- {md_cell(s)}\n" for s in _settings(d)),
        _changes_md(f"Rules ({len(d.rules)})", d.rules, f"Compared from {d.rules_basis}."),
        _changes_md(f"Schema ({len(d.schema)})", d.schema),
        "\n## Rows\n\n",
        md_table(["table", "old", "new", "delta", "%"], (_row_cells(r) for r in d.rows)),
    ]
    if d.definition:
        parts.append(_changes_md("Dataset definition", d.definition))
    return "".join(parts)


def render_json(d: SnapshotDiff) -> str:
    return json.dumps(d.to_dict(), indent=2, sort_keys=True, default=str) + "\n"


DIFF_FORMATS: dict[str, Callable[[SnapshotDiff], str]] = {
    "text": render_text,
    "md": render_markdown,
    "json": render_json,
}


def diff_renderer(fmt: str) -> Callable[[SnapshotDiff], str]:
    """The renderer of `fmt`; ConfigError naming the choices for any other."""
    return choose_format(DIFF_FORMATS, fmt, "diff")


def render_diff(d: SnapshotDiff, fmt: str) -> str:
    return diff_renderer(fmt)(d)

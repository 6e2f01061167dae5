"""Markdown output shared by the reports (rules audit, snapshot diff): escaped cells, tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["md_cell", "md_table"]

_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "|": "\\|",  # would end the cell
        "`": "\\`",
        "*": "\\*",
        "<": "&lt;",  # renderers pass raw HTML through: a value must never become markup
        ">": "&gt;",
        "&": "&amp;",
        "\r": " ",
        "\n": " ",  # would end the row
    }
)


def md_cell(value: object) -> str:
    """`value` as text that stays inside one table cell and renders as written."""
    return str(value).translate(_ESCAPES)


def md_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-style pipe table with every cell escaped."""
    lines = [
        "| " + " | ".join(md_cell(h) for h in headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines.extend("| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows)
    return "\n".join(lines) + "\n"

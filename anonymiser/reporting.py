"""What the reports (rules audit, snapshot diff) share: the choice of format, Markdown cells."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from anonymiser.errors import ConfigError

__all__ = ["choose_format", "md_cell", "md_table", "param_text"]

T = TypeVar("T")

_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "|": "\\|",  # would end the cell
        "`": "\\`",
        "*": "\\*",
        "_": "\\_",  # emphasis
        "[": "\\[",  # a link
        "]": "\\]",
        "<": "&lt;",  # renderers pass raw HTML through: a value must never become markup
        "&": "&amp;",
        "\r": " ",
        "\n": " ",  # would end the row
    }
)


def md_cell(value: object) -> str:
    """`value` as text that stays inside one table cell and renders as written."""
    return str(value).translate(_ESCAPES)


def param_text(value: Any) -> str:
    """A rule parameter as the reports write it: text as itself, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def md_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-style pipe table with every cell escaped."""
    lines = [
        "| " + " | ".join(md_cell(h) for h in headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines.extend("| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows)
    return "\n".join(lines) + "\n"


def choose_format(
    formats: dict[str, Callable[[T], str]], fmt: str, what: str
) -> Callable[[T], str]:
    """The renderer of `fmt`; a ConfigError naming the choices for any other format."""
    render = formats.get(fmt)
    if render is None:
        raise ConfigError(f"unknown {what} format {fmt!r}: choose one of {', '.join(formats)}")
    return render

"""PostgreSQL array text ('{a,"b c",NULL,{1,2}}') to nested Python lists and back."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["format_array", "parse_array"]

_NEEDS_QUOTES = re.compile(r'[{}",\\\s]')


def parse_array(text: str) -> tuple[str, list[Any]]:
    """(dimension decoration such as '[0:1]=', nested lists of str | None)."""
    prefix = ""
    if text.startswith("["):
        cut = text.index("=") + 1
        prefix, text = text[:cut], text[cut:]
    value, end = _parse(text, 0)
    if end != len(text):
        raise ValueError(f"unexpected text after array: {text[end:]!r}")
    return prefix, value


def _parse(text: str, pos: int) -> tuple[list[Any], int]:
    if text[pos] != "{":
        raise ValueError(f"array text must start with {{: {text!r}")
    pos += 1
    items: list[Any] = []
    if text[pos] == "}":
        return items, pos + 1
    while True:
        char = text[pos]
        if char == "{":
            item, pos = _parse(text, pos)
            items.append(item)
        elif char == '"':
            pos += 1
            chunk: list[str] = []
            while text[pos] != '"':
                if text[pos] == "\\":
                    pos += 1
                chunk.append(text[pos])
                pos += 1
            items.append("".join(chunk))
            pos += 1
        else:
            end = pos
            while text[end] not in ",}":
                end += 1
            raw = text[pos:end].strip()
            items.append(None if raw.upper() == "NULL" else raw)
            pos = end
        if text[pos] == "}":
            return items, pos + 1
        pos += 1  # the comma


def format_array(prefix: str, items: list[Any]) -> str:
    return prefix + _format(items)


def _format(items: list[Any]) -> str:
    parts = []
    for item in items:
        if isinstance(item, list):
            parts.append(_format(item))
        elif item is None:
            parts.append("NULL")
        elif item == "" or item.upper() == "NULL" or _NEEDS_QUOTES.search(item):
            parts.append('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"')
        else:
            parts.append(item)
    return "{" + ",".join(parts) + "}"

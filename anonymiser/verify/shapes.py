"""What kind of text each leak-check original is, by vectorised tests of its characters.

The leak check treats an original by its shape: one word of letters is found only as a whole
value, a number only where an integer column could hold it, and text with a quote, a
backslash, a control or a non-ASCII character is also searched in its JSON-escaped forms.
Arrow's ASCII kernels and NumPy comparisons over the text buffer answer these for every
value at once (a regular expression per value cost more than hashing the originals);
Python sees only the rare values beyond ASCII or with a sign.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.maskers.base import byte_view

__all__ = ["compound", "json_escaped", "json_forms", "numbers"]

_LETTERS = re.compile(r"[^\W\d_]+")


def _flags(values: pa.Array, null: bool = False) -> np.ndarray:
    return np.asarray(pc.fill_null(values, null).to_numpy(zero_copy_only=False), dtype=bool)


def json_escaped(values: pa.Array) -> np.ndarray:
    """Whether each value has another form inside a JSON document (a quote, a backslash, a
    control or a non-ASCII character: "zo\\u00eb", "line\\nbreak")."""
    offsets, data, _ = byte_view(values)
    data = data[offsets[0] : offsets[-1]]
    special = np.flatnonzero((data < 0x20) | (data >= 0x7F) | (data == 0x22) | (data == 0x5C))
    owner = np.searchsorted(offsets - offsets[0], special, side="right") - 1
    out: np.ndarray = np.bincount(owner, minlength=len(values)) > 0
    return out


def compound(keys: pa.Array) -> np.ndarray:
    """Whether each key is anything but one word of letters ("olivia", "zoë"): those are
    searched inside text too."""
    out: np.ndarray = ~_flags(pc.ascii_is_alpha(keys))
    for at in np.flatnonzero(~_flags(pc.string_is_ascii(keys), null=True)):  # letters beyond ASCII
        out[at] = not _LETTERS.fullmatch(str(keys[at].as_py()))
    return out


def numbers(keys: pa.Array, short_below: int) -> tuple[np.ndarray, np.ndarray]:
    """(short number, integer text) of each key: digits only, a sign aside, and fewer than
    `short_below` of them ("+1234567"); what an integer's text can be ("-?[0-9]+")."""
    digits = _flags(pc.ascii_is_decimal(keys))
    lengths = _flags_lengths(keys)
    short, integer = digits & (lengths < short_below), digits.copy()
    signed = np.flatnonzero(_flags(pc.starts_with(keys, "+")) | _flags(pc.starts_with(keys, "-")))
    for at in signed:  # rare: phone numbers with a + are not digits only anyway
        text = str(keys[at].as_py())
        if len(text) > 1 and text[1:].isascii() and text[1:].isdigit():
            short[at] = len(text) - 1 < short_below
            integer[at] = text[0] == "-"
    return short, integer


def _flags_lengths(keys: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(pc.binary_length(keys), 0).to_numpy(zero_copy_only=False))


def json_forms(value: str) -> set[str]:
    """How `value` can be written inside a JSON document, other than as itself.

    PostgreSQL's json output and Python's json.dumps escape the same characters (quote,
    backslash, control characters); an application may also escape every non-ASCII one.
    """
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return set()  # the common case, without a json.dumps
    forms = {json.dumps(value, ensure_ascii=ascii)[1:-1] for ascii in (False, True)}
    forms.discard(value)
    return forms

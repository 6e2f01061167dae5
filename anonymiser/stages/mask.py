"""Mask: where masking rules transform the extracted Parquet files, file by file.

The rule engine arrives with the masking-rules work. Until then this stage is an explicit
pass-through: every column is copied as is, and the manifest says so (masking.applied = false)
so no one mistakes such a snapshot for an anonymised one.
"""

from __future__ import annotations

from typing import Any

from anonymiser.stages.extract import Extracted

__all__ = ["mask"]


def mask(extracted: Extracted) -> tuple[Extracted, dict[str, Any]]:
    """Return the (masked) extract and the masking section of the manifest."""
    return extracted, {
        "applied": False,
        "note": "no masking rules engine in this version: every column was copied as is",
    }

"""Masking strategies, one module each, registered by name (see anonymiser.maskers.base)."""

from anonymiser.maskers.base import (
    ColumnSpec,
    MaskContext,
    Param,
    RuleError,
    Strategy,
    all_strategies,
    get_strategy,
    map_unique,
    register,
)

__all__ = [
    "ColumnSpec",
    "MaskContext",
    "Param",
    "RuleError",
    "Strategy",
    "all_strategies",
    "get_strategy",
    "map_unique",
    "register",
]

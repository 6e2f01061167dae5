"""The masking strategy contract: one module per strategy, registered by name.

A strategy is a class with a `name`, declared parameters, a type check run before any data is
read, and a vectorised `mask(values, ctx)` over an Arrow array. Determinism comes only from the
MaskContext: output = f(secret key, namespace, input). Adding a strategy means one module in
anonymiser/maskers/ (discovered automatically), one @register, one test file.
"""

from __future__ import annotations

import hashlib
import hmac
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.errors import ConfigError

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


class RuleError(ConfigError):
    """A rule that cannot work: bad parameters or a strategy that does not fit the column."""


@dataclass(frozen=True)
class Param:
    """A declared strategy parameter (also the source of the generated strategies reference)."""

    kind: type | tuple[type, ...]
    doc: str
    required: bool = False
    default: Any = None


@dataclass(frozen=True)
class ColumnSpec:
    """What a strategy may know about the column it masks, from the source catalog."""

    table: str  # qualified
    name: str
    pg_type: str  # exact, e.g. "character varying(20)"
    base_type: str  # e.g. "varchar", "int4", "_text" (arrays start with "_")
    category: str  # pg_type.typcategory of the base type
    arrow_type: pa.DataType
    max_length: int | None = None  # varchar(n) / char(n)
    unique: bool = False  # under a PK, UNIQUE constraint or unique index
    not_null: bool = False
    checks: tuple[str, ...] = ()  # CHECK constraint definitions that mention this column

    @property
    def is_text(self) -> bool:
        return self.category == "S" and not self.base_type.startswith("_")

    @property
    def is_array(self) -> bool:
        return self.category == "A"


@dataclass(frozen=True)
class MaskContext:
    """The key and namespace every masked value is derived from."""

    key: bytes
    namespace: str
    round: int = 0  # > 0 when re-masking values that collided on a unique column
    # values masked in structured columns of this snapshot, original -> pseudonym, by entity
    # kind ("PERSON", "EMAIL_ADDRESS", ...), so free-text scrubbing reuses the same pseudonym
    known: Mapping[str, Mapping[str, str]] = field(default_factory=dict, compare=False, hash=False)
    _subkey: bytes = field(default=b"", repr=False, compare=False)

    def __post_init__(self) -> None:
        label = f"anonymiser/v1/{self.namespace}/{self.round}".encode()
        object.__setattr__(self, "_subkey", hmac.new(self.key, label, hashlib.sha256).digest())

    def derive(self, *, namespace: str | None = None, round: int | None = None) -> MaskContext:
        return MaskContext(
            self.key,
            self.namespace if namespace is None else namespace,
            self.round if round is None else round,
            self.known,
        )

    def digest_bytes(self, value: bytes, size: int = 32) -> bytes:
        """Keyed digest of one value (BLAKE2b under a per-namespace subkey)."""
        return hashlib.blake2b(value, key=self._subkey, digest_size=size).digest()

    def digests(self, values: pa.Array) -> np.ndarray:
        """A keyed 64-bit digest per value (call on unique values; nulls give 0)."""
        key = self._subkey
        out = np.zeros(len(values), dtype=np.uint64)
        for i, value in enumerate(values.to_pylist()):
            if value is None:
                continue
            raw = value if isinstance(value, bytes) else str(value).encode()
            out[i] = int.from_bytes(
                hashlib.blake2b(raw, key=key, digest_size=8).digest(), "little"
            )
        return out


def map_unique(values: pa.Array, func: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """Apply `func` once per distinct non-null value, then take: the vectorised shape."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    mapped = func(encoded.dictionary)
    return pc.take(mapped, encoded.indices)


class Strategy(ABC):
    """Base of every masking strategy."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line for the reference and the audit report
    params: ClassVar[Mapping[str, Param]] = {}
    keeps_value: ClassVar[bool] = False  # True only for `keep`
    may_collide: ClassVar[bool] = False  # realistic fakes, hashes: unique columns need checking

    def __init__(self, params: Mapping[str, Any], column: ColumnSpec) -> None:
        self.column = column
        self.options = self._validated(params)
        problem = self.check_column(column)
        if problem:
            raise RuleError(problem)

    def _validated(self, given: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            allowed = ", ".join(sorted(self.params)) or "none"
            raise RuleError(
                f"strategy {self.name}: unknown parameter {', '.join(unknown)} (allowed: {allowed})"
            )
        options: dict[str, Any] = {}
        for pname, spec in self.params.items():
            if pname not in given:
                if spec.required:
                    raise RuleError(f"strategy {self.name}: parameter {pname} is required")
                options[pname] = spec.default
                continue
            value = given[pname]
            if not isinstance(value, spec.kind) or (
                isinstance(value, bool) and spec.kind in (int, float, (int, float))
            ):
                raise RuleError(
                    f"strategy {self.name}: parameter {pname}={value!r} has the wrong type"
                )
            options[pname] = value
        return options

    def check_column(self, column: ColumnSpec) -> str | None:
        """Why this strategy cannot mask `column` (None when it can); runs before any data."""
        return None

    @abstractmethod
    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        """The masked values: same length and Arrow type; vectorised (see map_unique)."""


_REGISTRY: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make a strategy available to rule files by its `name`."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise RuntimeError(f"two masking strategies are named {cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def _load_all() -> None:
    import importlib
    import pkgutil

    import anonymiser.maskers as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name != "base":
            importlib.import_module(f"{package.__name__}.{module.name}")


def get_strategy(name: str) -> type[Strategy]:
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise RuleError(f"unknown strategy {name!r} (known: {known})") from None


def all_strategies() -> dict[str, type[Strategy]]:
    _load_all()
    return dict(sorted(_REGISTRY.items()))

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
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anonymiser.errors import ConfigError

if TYPE_CHECKING:
    from anonymiser.maskers._knownpairs import KnownPairs

__all__ = [
    "ColumnSpec",
    "MaskContext",
    "Param",
    "RuleError",
    "Strategy",
    "all_strategies",
    "byte_view",
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
    # (KnownPairs, or {kind: {original: pseudonym}})
    known: KnownPairs | Mapping[str, Mapping[str, str]] = field(
        default_factory=dict, compare=False, hash=False
    )
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
        """A keyed 64-bit digest per value (call on unique values; nulls give 0).

        Vectorised keyed SipHash-2-4 over the Arrow buffers (text form for non-text types);
        values longer than 128 bytes are first compressed with keyed BLAKE2b.
        """
        return self.wide_digests(values, 1)[:, 0]

    def wide_digests(self, values: pa.Array, words: int) -> np.ndarray:
        """`words` independent keyed 64-bit digests per value, shape (len(values), words)."""
        offsets, data, valid = byte_view(values)
        sip_keys = [
            self._subkey[:16] if word == 0 else self.digest_bytes(b"word%d" % word, 16)
            for word in range(words)
        ]
        out = _siphash_many(offsets, data, sip_keys, self._subkey)
        out[~valid] = 0
        return out


_SHORT = 128  # longer values are compressed with BLAKE2b before SipHash
_U64 = np.uint64


def byte_view(values: pa.Array, wide: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(int64 offsets, uint8 data, validity) of the bytes of each value (text form if not text);
    the offsets as Arrow holds them (int32, no copy) if not `wide`."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not (pa.types.is_string(values.type) or pa.types.is_binary(values.type)):
        if pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type):
            values = values.cast(
                pa.binary() if pa.types.is_large_binary(values.type) else pa.string()
            )
        else:
            values = pc.cast(values, pa.string())
    n = len(values)
    valid = (
        np.ones(n, dtype=bool)
        if values.null_count == 0
        else np.asarray(values.is_valid().to_numpy(zero_copy_only=False))
    )
    buffers = values.buffers()
    raw_offsets = np.frombuffer(buffers[1], dtype=np.int32, count=n + 1, offset=values.offset * 4)
    offsets = raw_offsets.astype(np.int64) if wide else raw_offsets
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8)
        if buffers[2] is not None
        else np.zeros(0, dtype=np.uint8)
    )
    return offsets, data, valid


def _rotl(x: np.ndarray, b: int, scratch: np.ndarray) -> None:
    """x = rotate-left(x, b), in place (whole-array temporaries cost more than the arithmetic)."""
    np.left_shift(x, _U64(b), out=scratch)
    x >>= _U64(64 - b)
    x |= scratch


def _sipround(
    v0: np.ndarray, v1: np.ndarray, v2: np.ndarray, v3: np.ndarray, t: np.ndarray
) -> None:
    v0 += v1
    _rotl(v1, 13, t)
    v1 ^= v0
    _rotl(v0, 32, t)
    v2 += v3
    _rotl(v3, 16, t)
    v3 ^= v2
    v0 += v3
    _rotl(v3, 21, t)
    v3 ^= v0
    v2 += v1
    _rotl(v1, 17, t)
    v1 ^= v2
    _rotl(v2, 32, t)


_CHUNK = 8192  # rows hashed together: their state stays in the CPU cache across rounds


def _siphash_many(
    offsets: np.ndarray, data: np.ndarray, sip_key: bytes | list[bytes], long_key: bytes
) -> np.ndarray:
    """SipHash-2-4 of every value under each key, vectorised across values (block by block).

    One key gives shape (n,), a list of keys (n, len(keys)): the message matrix is built once.
    """
    keys = [sip_key] if isinstance(sip_key, bytes) else sip_key
    n = len(offsets) - 1
    lengths = np.diff(offsets)
    messages: list[bytes] = []
    long_rows = np.flatnonzero(lengths > _SHORT)
    if len(long_rows):
        # a long value's identity is its keyed BLAKE2b digest (prefixed, so it cannot equal a
        # short value's bytes)
        for row in long_rows:
            chunk = data[offsets[row] : offsets[row + 1]].tobytes()
            messages.append(b"\xfflong" + hashlib.blake2b(chunk, key=long_key).digest())
    out = np.zeros((n, len(keys)), dtype=np.uint64)
    key_words = [
        (_U64(int.from_bytes(k[:8], "little")), _U64(int.from_bytes(k[8:16], "little")))
        for k in keys
    ]
    order = np.argsort(-np.minimum(lengths, _SHORT + 1), kind="stable")
    short = order[lengths[order] <= _SHORT]
    for start in range(0, len(short), _CHUNK):
        rows = short[start : start + _CHUNK]
        out[rows] = _siphash_block(offsets[rows], lengths[rows], data, key_words)
    if len(long_rows):
        flat = np.frombuffer(b"".join(messages), dtype=np.uint8)
        sizes = np.array([len(m) for m in messages], dtype=np.int64)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        out[long_rows] = _siphash_block(starts, sizes, flat, key_words)
    return out[:, 0] if isinstance(sip_key, bytes) else out


def _siphash_block(
    starts: np.ndarray,
    lengths: np.ndarray,
    data: np.ndarray,
    keys: list[tuple[np.uint64, np.uint64]],
) -> np.ndarray:
    """SipHash-2-4 of values given as (start, length) into `data`, sorted by length descending;
    shape (len(starts), len(keys))."""
    m = len(starts)
    if m == 0:
        return np.zeros((0, len(keys)), dtype=np.uint64)
    nblocks = lengths // 8 + 1
    width = int(nblocks.max()) * 8
    if len(data):
        # gather a fixed-width window per row, then zero what lies past each value's end
        columns = np.arange(width, dtype=np.int64)
        index = starts[:, None] + columns
        np.minimum(index, len(data) - 1, out=index)
        matrix = np.take(data, index)
        matrix *= columns < lengths[:, None]
    else:
        matrix = np.zeros((m, width), dtype=np.uint8)
    matrix[np.arange(m), nblocks * 8 - 1] = (lengths & 0xFF).astype(np.uint8)
    # column-major blocks: block j of every row is contiguous
    words = np.ascontiguousarray(matrix.view("<u8").T)
    # rows are sorted longest first: the rows with a block j form a prefix
    counts = [int(np.count_nonzero(nblocks > j)) for j in range(width // 8)]
    out = np.empty((m, len(keys)), dtype=np.uint64)
    t = np.empty(m, dtype=np.uint64)
    for column, (k0, k1) in enumerate(keys):
        v0 = np.full(m, k0 ^ _U64(0x736F6D6570736575), dtype=np.uint64)
        v1 = np.full(m, k1 ^ _U64(0x646F72616E646F6D), dtype=np.uint64)
        v2 = np.full(m, k0 ^ _U64(0x6C7967656E657261), dtype=np.uint64)
        v3 = np.full(m, k1 ^ _U64(0x7465646279746573), dtype=np.uint64)
        for j, count in enumerate(counts):
            a, b, c, d, s = v0[:count], v1[:count], v2[:count], v3[:count], t[:count]
            block = words[j, :count]
            d ^= block
            _sipround(a, b, c, d, s)
            _sipround(a, b, c, d, s)
            a ^= block
        v2 ^= _U64(0xFF)
        for _ in range(4):
            _sipround(v0, v1, v2, v3, t)
        out[:, column] = v0 ^ v1 ^ v2 ^ v3
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
    # whether no original value may survive anywhere in the output (the verify stage's leak
    # check); False where the output legitimately equals some originals: keep, generalisations,
    # and presidio, whose free text is re-scanned instead
    leak_checked: ClassVar[bool] = True

    @property
    def pseudonymises(self) -> bool:
        """Whether each value becomes a keyed pseudonym that may, by chance, be the value itself
        (fake, hash, pattern: a 7-digit TRN among millions): the mask stage masks those again."""
        return (
            self.may_collide
            and self.leak_checked
            and type(self).originals is Strategy.originals  # not a json or array rule
        )

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

    def originals(self, values: pa.Array) -> pa.Array | None:
        """The original values this strategy replaces within `values`, as text (leak check)."""
        return values if self.leak_checked else None

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

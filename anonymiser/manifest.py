"""manifest.json: what a published snapshot version holds, written last, read first.

A version folder without a manifest is an incomplete publish and is invisible to list/restore.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from anonymiser.catalog import Catalog, qualified_name
from anonymiser.errors import IntegrityError

__all__ = ["FORMAT_VERSION", "FileEntry", "Manifest", "SequenceState", "TableEntry"]

FORMAT_VERSION = 1


@dataclass
class FileEntry:
    path: str  # relative to the version folder, '/'-separated
    rows: int
    bytes: int
    sha256: str


@dataclass
class TableEntry:
    schema: str
    name: str
    kind: str  # "table" or "partition"
    columns: list[dict[str, Any]]  # name, pg_type, arrow_type
    rows: int = 0
    bytes: int = 0
    files: list[FileEntry] = field(default_factory=list)

    @property
    def qualified(self) -> str:
        return qualified_name(self.schema, self.name)


@dataclass
class SequenceState:
    schema: str
    name: str
    last_value: int
    is_called: bool


@dataclass
class Manifest:
    dataset: str
    version: str
    tool_version: str
    created_at: str
    completed_at: str = ""
    source: dict[str, Any] = field(default_factory=dict)
    session_settings: dict[str, str] = field(default_factory=dict)
    # pre_data, post_data, clean; and rules: the rule set the data was masked with (when masked)
    schema_files: dict[str, FileEntry] = field(default_factory=dict)
    tables: list[TableEntry] = field(default_factory=list)
    sequences: list[SequenceState] = field(default_factory=list)
    matviews: list[list[str]] = field(default_factory=list)  # [schema, name] in refresh order
    catalog: dict[str, Any] = field(default_factory=dict)
    masking: dict[str, Any] = field(default_factory=dict)
    dataset_definition: dict[str, Any] = field(default_factory=dict)  # {} in older manifests
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    # the verification gate's checks and settings (anonymiser.verify); {} before it existed
    verification: dict[str, Any] = field(default_factory=dict)
    operator: dict[str, str] = field(default_factory=dict)  # name, and ci_actor in a workflow
    reason: str = ""  # why this snapshot was cut (--reason)
    run_id: str = ""  # files live under runs/<run_id>/ of the version folder
    signature: dict[str, str] = field(default_factory=dict)  # see anonymiser.signing
    format_version: int = FORMAT_VERSION

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def total_bytes(self) -> int:
        return sum(t.bytes for t in self.tables) + sum(f.bytes for f in self.schema_files.values())

    def all_files(self) -> list[FileEntry]:
        return [*self.schema_files.values(), *(f for t in self.tables for f in t.files)]

    def get_catalog(self) -> Catalog:
        return Catalog.from_dict(self.catalog)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, *, where: str) -> Manifest:
        try:
            raw = json.loads(data)
            if raw.get("format_version") != FORMAT_VERSION:
                raise IntegrityError(
                    f"{where}: manifest format {raw.get('format_version')!r} is not supported "
                    f"by this anonymiser (expects {FORMAT_VERSION})"
                )
            raw["schema_files"] = {k: FileEntry(**v) for k, v in raw["schema_files"].items()}
            raw["tables"] = [
                TableEntry(**{**t, "files": [FileEntry(**f) for f in t["files"]]})
                for t in raw["tables"]
            ]
            raw["sequences"] = [SequenceState(**s) for s in raw["sequences"]]
            return cls(**raw)
        except IntegrityError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise IntegrityError(f"{where}: manifest is unreadable ({exc})") from None

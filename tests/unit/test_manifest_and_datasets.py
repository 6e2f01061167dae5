"""manifest.json serialisation and dataset definition loading (snapshots/NAME.yaml)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anonymiser.datasets import Dataset, load_dataset, validate_name
from anonymiser.errors import ConfigError, IntegrityError
from anonymiser.manifest import FORMAT_VERSION, FileEntry, Manifest, SequenceState, TableEntry

# -- manifest --------------------------------------------------------------------------------


def sample_manifest() -> Manifest:
    customers = TableEntry(
        schema="public",
        name="customers",
        kind="table",
        columns=[
            {"name": "id", "pg_type": "integer", "arrow_type": "int32"},
            {"name": "name", "pg_type": "text", "arrow_type": "string"},
        ],
        rows=3,
        bytes=300,
        files=[
            FileEntry("data/public/customers/part-00000.parquet", 2, 200, "a" * 64),
            FileEntry("data/public/customers/part-00001.parquet", 1, 100, "b" * 64),
        ],
    )
    part = TableEntry(schema="public", name="log_2024", kind="partition", columns=[], rows=0)
    return Manifest(
        dataset="fullset",
        version="v1",
        tool_version="0.1.0",
        created_at="2025-01-01T00:00:00Z",
        completed_at="2025-01-01T00:00:05Z",
        source={"server_version": "16.2", "server_version_num": 160002},
        session_settings={"TimeZone": "UTC"},
        schema_files={"pre_data": FileEntry("schema/pre_data.sql", 0, 50, "c" * 64)},
        tables=[customers, part],
        sequences=[SequenceState("public", "customers_id_seq", 3, True)],
        matviews=[["public", "summary"]],
        catalog={"tables": {}},
        masking={"applied": False, "note": "pass-through"},
        timings={"extract": 1.5},
    )


def test_manifest_json_round_trip_is_lossless() -> None:
    manifest = sample_manifest()
    again = Manifest.from_json(manifest.to_json(), where="m.json")
    assert again == manifest
    assert isinstance(again.tables[0].files[0], FileEntry)
    assert isinstance(again.sequences[0], SequenceState)
    assert again.total_rows == 3
    assert again.total_bytes == 350
    assert [f.path for f in again.all_files()] == [
        "schema/pre_data.sql",
        "data/public/customers/part-00000.parquet",
        "data/public/customers/part-00001.parquet",
    ]


def test_manifest_json_is_plain_json_with_format_version() -> None:
    raw = json.loads(sample_manifest().to_json())
    assert raw["format_version"] == FORMAT_VERSION
    assert raw["tables"][0]["files"][0]["sha256"] == "a" * 64


GARBAGE = {
    "not json": b"{ this is not json",
    "not utf-8": b"\xff\xfe\x00garbage",
    "empty": b"",
    "a list": b"[1, 2, 3]",
    "missing fields": json.dumps({"format_version": FORMAT_VERSION}).encode(),
    "unknown field": json.dumps({**sample_manifest().to_dict(), "surprise": 1}).encode(),
    "bad file entry": json.dumps(
        {**sample_manifest().to_dict(), "schema_files": {"pre_data": {"path": "x"}}}
    ).encode(),
}


@pytest.mark.parametrize("data", GARBAGE.values(), ids=GARBAGE.keys())
def test_unreadable_manifest_is_a_one_line_integrity_error(data: bytes) -> None:
    with pytest.raises(IntegrityError) as caught:
        Manifest.from_json(data, where="ds/v1/manifest.json")
    message = str(caught.value)
    assert message.startswith("ds/v1/manifest.json: ")
    assert "\n" not in message


@pytest.mark.parametrize("format_version", [0, 2, "1", None])
def test_unsupported_manifest_format_is_refused(format_version: object) -> None:
    raw = sample_manifest().to_dict()
    raw["format_version"] = format_version
    with pytest.raises(IntegrityError, match="format") as caught:
        Manifest.from_json(json.dumps(raw).encode(), where="ds/v1/manifest.json")
    assert "\n" not in str(caught.value)
    assert "ds/v1/manifest.json" in str(caught.value)


# -- dataset definitions ---------------------------------------------------------------------


def test_fullset_is_built_in_without_a_definition_file(tmp_path: Path) -> None:
    dataset = load_dataset("fullset", tmp_path)
    assert dataset.name == "fullset"
    assert dataset.source_file is None
    assert dataset.includes("public.anything")
    assert dataset.includes("audit.log_2024")


def test_yaml_definition_selects_tables_by_include_and_exclude_patterns(tmp_path: Path) -> None:
    path = tmp_path / "core.yaml"
    path.write_text(
        "name: core\n"
        "description: Core tables only\n"
        "tables:\n"
        "  include: ['public.*', 'audit.log']\n"
        "  exclude: ['public.tmp_*', 'public.secret']\n"
    )
    dataset = load_dataset("core", tmp_path)
    assert dataset == Dataset(
        name="core",
        description="Core tables only",
        include=["public.*", "audit.log"],
        exclude=["public.tmp_*", "public.secret"],
        source_file=str(path),
    )
    assert dataset.includes("public.customers")
    assert dataset.includes("audit.log")
    assert not dataset.includes("audit.log_2024")
    assert not dataset.includes("public.tmp_import")
    assert not dataset.includes("public.secret")
    assert not dataset.includes("other.customers")


def test_pattern_matching_is_case_sensitive() -> None:
    dataset = Dataset(name="d", include=["public.Users"])
    assert dataset.includes("public.Users")
    assert not dataset.includes("public.users")


def test_definition_without_tables_section_includes_everything(tmp_path: Path) -> None:
    (tmp_path / "all.yaml").write_text("description: everything\n")
    dataset = load_dataset("all", tmp_path)
    assert dataset.includes("any.table")
    assert dataset.description == "everything"


def test_a_fullset_file_overrides_the_built_in(tmp_path: Path) -> None:
    (tmp_path / "fullset.yaml").write_text("tables:\n  exclude: ['public.audit_*']\n")
    dataset = load_dataset("fullset", tmp_path)
    assert not dataset.includes("public.audit_log")
    assert dataset.includes("public.users")


def test_unknown_dataset_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nosuch") as caught:
        load_dataset("nosuch", tmp_path)
    assert str(tmp_path / "nosuch.yaml") in str(caught.value)


def test_broken_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\ntables:\n  include: ['public.*'\n  exclude: []\n")
    with pytest.raises(ConfigError) as caught:
        load_dataset("broken", tmp_path)
    message = str(caught.value)
    assert str(path) in message
    assert "line 4" in message
    assert "\n" not in message


def test_declared_name_must_match_the_file_name(tmp_path: Path) -> None:
    (tmp_path / "2024.yaml").write_text("name: '2025'\n")
    with pytest.raises(ConfigError, match=r"'2025'.*'2024'"):
        load_dataset("2024", tmp_path)


BAD_SHAPES = {
    "top-level list": "- public.users\n",
    "tables is a list": "tables: ['public.users']\n",
    "include is a string": "tables:\n  include: public.*\n",
    "exclude holds a number": "tables:\n  exclude: [1]\n",
}


@pytest.mark.parametrize("text", BAD_SHAPES.values(), ids=BAD_SHAPES.keys())
def test_badly_shaped_definition_is_a_config_error_naming_the_file(
    tmp_path: Path, text: str
) -> None:
    (tmp_path / "shape.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"shape\.yaml"):
        load_dataset("shape", tmp_path)


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "a/b",
        "",
        ".hidden",
        "-flag",
        "with space",
        "x" * 129,
        "tab\tname",
        "naïve",
    ],
)
def test_invalid_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid"):
        validate_name("version", name)
    with pytest.raises(ConfigError, match="invalid dataset name"):
        load_dataset(name, tmp_path)


@pytest.mark.parametrize(
    "name", ["fullset", "2024", "pre-2024", "v1.2_rc", "20250101T000000Z", "x" * 128]
)
def test_plain_names_are_accepted(name: str) -> None:
    assert validate_name("version", name) == name


@pytest.mark.parametrize("name", ["v1\n", "fullset\n"])
def test_names_with_a_trailing_newline_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="invalid"):
        validate_name("version", name)

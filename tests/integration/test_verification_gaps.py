"""Regression tests of the verification gate on a real PostgreSQL: column types, nested rules,
partitioned parents and server errors that once crashed or fooled it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from anonymiser.errors import SnapshotError, VerificationFailed
from anonymiser.maskers import MaskContext, get_strategy
from anonymiser.maskers._pgarray import parse_array
from anonymiser.pg.connect import without_values
from anonymiser.rules.model import RulesInvalid
from anonymiser.snapshot import create_snapshot, load_manifest
from anonymiser.verify import VerifySettings
from tests.conftest import TEST_MASKING_KEY
from tests.integration.test_verification import Corruption, corrupt_after_mask, set_cell
from tests.unit.maskers.conftest import column

KEY = TEST_MASKING_KEY.encode()


def make_source(dsn: str, schema: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(schema.encode())
    return dsn


def create(source: str, tmp_path: Path, rules: str, **kwargs: object) -> Path:
    """Cut fullset v1 of `source` under `rules`; the store it went to."""
    folder = tmp_path / "rules"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules.yaml").write_text(rules)
    store = tmp_path / "store"
    create_snapshot(source, store, "fullset", "v1", rules_dir=folder, key=KEY, **kwargs)  # type: ignore[arg-type]
    return store


def checks_list(store: Path, name: str, dataset: str = "fullset") -> list[dict[str, Any]]:
    """The manifest's results of one check family."""
    found = load_manifest(store, dataset, "v1").verification["checks"]
    return [c for c in found if c["name"] == name]


def checks(store: Path, name: str) -> dict[str, dict[str, Any]]:
    """The manifest's results of one check family, by table.column."""
    return {f"{c['table']}.{c['column']}": c for c in checks_list(store, name)}


BYTEA = """
CREATE TABLE files (id int PRIMARY KEY, digest bytea, blob bytea NOT NULL, spare bytea);
INSERT INTO files SELECT g, decode(md5(g::text), 'hex'), decode(md5('b' || g), 'hex'), NULL
FROM generate_series(1, 50) g;
"""
BYTEA_RULES = """
tables:
  public.files:
    columns:
      id:     {strategy: keep, reason: surrogate key}
      digest: {strategy: hash, reason: "fingerprint of a person's document"}
      blob:   {strategy: hash, reason: "a person's document"}
      spare:  {strategy: keep, reason: "empty"}
"""


def test_masked_bytea_columns_are_leak_checked_as_postgres_hex(
    source_dsn: str, tmp_path: Path
) -> None:
    rules = BYTEA_RULES.replace("digest: {strategy: hash", 'digest: {strategy: "null"')
    store = create(make_source(source_dsn, BYTEA), tmp_path, rules)
    leaks = checks(store, "leak")
    assert leaks["public.files.digest"]["checked"] == 50
    assert leaks["public.files.blob"]["checked"] == 50
    assert leaks["public.files.blob"]["failures"] == 0


def test_bytea_original_copied_into_a_kept_bytea_column_is_a_leak(
    source_dsn: str, tmp_path: Path
) -> None:
    source = make_source(source_dsn, BYTEA + "UPDATE files SET spare = blob WHERE id <= 3;")
    with pytest.raises(VerificationFailed) as failed:
        create(source, tmp_path, BYTEA_RULES)
    assert "leak public.files.blob (rule hash): 3 failing of 50" in str(failed.value)
    assert "public.files.spare (3 rows)" in str(failed.value)


NESTED = """
CREATE TABLE people (id int PRIMARY KEY, profile jsonb, notes text[]);
INSERT INTO people VALUES (1, '{"bio": "Call Jane Doe on 020 7946 0018"}', '{"ring Jane"}');
"""


@pytest.mark.parametrize(
    "rule",
    [
        '{strategy: json, paths: {"$.bio": {strategy: presidio}}, reason: bio}',
        "{strategy: array, rule: {strategy: presidio}, reason: notes}",
    ],
)
def test_nested_presidio_is_a_rule_error_naming_the_column(
    rule: str, source_dsn: str, tmp_path: Path
) -> None:
    column = "profile" if "json" in rule else "notes"
    other = "notes" if column == "profile" else "profile"
    rules = f"""
tables:
  public.people:
    columns:
      id: {{strategy: keep, reason: key}}
      {column}: {rule}
      {other}: {{strategy: "null", reason: test}}
"""
    with pytest.raises(RulesInvalid) as failed:
        create(make_source(source_dsn, NESTED), tmp_path, rules)
    message = str(failed.value)
    assert f"public.people.{column}" in message and "presidio cannot be nested" in message
    assert "\n" not in message


NOTES = """
CREATE TABLE calls (id int, made date NOT NULL, notes text) PARTITION BY RANGE (made);
CREATE TABLE calls_2024 PARTITION OF calls FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE calls_2025 PARTITION OF calls FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO calls VALUES
    (1, '2024-03-01', 'Rang back on 020 7946 0018 about the course'),
    (2, '2025-03-01', 'Rang back on 020 7946 0099 about the course'),
    (3, '2025-04-01', 'Nothing to note');
"""


def notes_rules(presidio: str) -> str:
    return f"""
tables:
  public.calls:
    columns:
      id: {{strategy: keep, reason: key}}
      made: {{strategy: keep, reason: date}}
      notes: {presidio}
"""


def test_presidio_rule_cannot_weaken_its_own_rescan(source_dsn: str, tmp_path: Path) -> None:
    # the rule masks e-mail addresses only, at a threshold nothing reaches: the phone numbers
    # survive masking, and the re-scan (default entities, --presidio-threshold) finds them
    weak = "{strategy: presidio, entities: [EMAIL_ADDRESS], threshold: 1.0, reason: weak}"
    with pytest.raises(VerificationFailed) as failed:
        create(make_source(source_dsn, NOTES), tmp_path, notes_rules(weak))
    assert "presidio public.calls.notes (rule presidio): 2 failing of 3" in str(failed.value)
    assert "PHONE_NUMBER 2" in str(failed.value)


def test_presidio_max_findings_counts_the_whole_column_not_each_partition(
    source_dsn: str, tmp_path: Path
) -> None:
    weak = "{strategy: presidio, entities: [EMAIL_ADDRESS], reason: weak}"
    source = make_source(source_dsn, NOTES)
    with pytest.raises(VerificationFailed) as failed:  # one residual in each partition
        create(
            source,
            tmp_path,
            notes_rules(weak),
            verification=VerifySettings(presidio_max_findings=1),
        )
    assert "2 residual findings" in str(failed.value) and "1 allowed" in str(failed.value)
    store = create(
        source,
        tmp_path / "again",
        notes_rules(weak),
        verification=VerifySettings(presidio_max_findings=2),
    )
    assert list(checks(store, "presidio")) == ["public.calls.notes"]


CONTACTS = """
CREATE TABLE contacts (id int PRIMARY KEY, name text, address text, doc jsonb, note text);
INSERT INTO contacts VALUES
    (1, ' Beatrice ', E'Flat 2\\n10 High Street', NULL, 'Beatrice'),
    (2, 'Zoë Ångström', E'The "Old" Mill\\\\Lane', NULL, NULL);
UPDATE contacts SET doc = jsonb_build_object('address', address);
"""


def test_originals_escaped_in_json_or_padded_with_spaces_are_leaks(
    source_dsn: str, tmp_path: Path
) -> None:
    rules = """
tables:
  public.contacts:
    columns:
      id: {strategy: keep, reason: key}
      name: {strategy: fake, provider: first_name, reason: name}
      address: {strategy: redact, reason: address}
      doc: {strategy: keep, reason: "test: holds the address"}
      note: {strategy: keep, reason: "test: holds the name"}
"""
    with pytest.raises(VerificationFailed) as failed:
        create(make_source(source_dsn, CONTACTS), tmp_path, rules)
    message = str(failed.value)
    assert "leak public.contacts.address (rule redact): 2 failing of 2" in message
    assert "public.contacts.doc (2 rows)" in message
    assert "leak public.contacts.name (rule fake): 1 failing of 2" in message
    assert "public.contacts.note (1 rows)" in message


SHARED = """
CREATE TABLE a_notes (id int PRIMARY KEY, body text);
CREATE TABLE people (id int PRIMARY KEY, code text, ref text);
CREATE TABLE z_notes (id int PRIMARY KEY, body text);
INSERT INTO people SELECT g, 'code-' || g, 'reference-' || g FROM generate_series(1, 20) g;
UPDATE people SET ref = 'SHARED-VALUE-1' WHERE id = 3;
INSERT INTO a_notes VALUES (1, 'see SHARED-VALUE-1 please'), (2, 'ask reference-4');
INSERT INTO z_notes VALUES (1, 'also shared-value-1');
"""


def test_original_masking_wrote_elsewhere_is_excluded_whichever_table_is_read_first(
    source_dsn: str, tmp_path: Path
) -> None:
    # people.code's constant is also one person's ref: found in a table read before people
    # (a_notes) and in one read after it (z_notes), it is masking's own value, not a leak
    rules = """
tables:
  public.people:
    columns:
      id: {strategy: keep, reason: key}
      code: {strategy: constant, value: SHARED-VALUE-1, reason: code}
      ref: {strategy: redact, reason: reference}
  public.a_notes:
    columns:
      id: {strategy: keep, reason: key}
      body: {strategy: keep, reason: "test: holds references"}
  public.z_notes:
    columns:
      id: {strategy: keep, reason: key}
      body: {strategy: keep, reason: "test: holds references"}
"""
    with pytest.raises(VerificationFailed) as failed:
        create(make_source(source_dsn, SHARED), tmp_path, rules, jobs=1)
    message = str(failed.value)
    assert (
        "leak public.people.ref (rule redact): 1 failing of 19: original values found in "
        "public.a_notes.body (1 rows)"
    ) in message
    assert "z_notes" not in message and "public.people.code" not in message


def test_rows_lost_between_the_copy_stream_and_the_files_fail_the_row_count(
    source_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a writer bug dropping a row of every batch written (extract and mask stages alike): the
    # extract counted the rows as they arrived, the files lack them
    real = pq.ParquetWriter.write_batch

    def lossy(self: pq.ParquetWriter, batch: pa.RecordBatch, *args: Any, **kw: Any) -> None:
        real(self, batch.slice(0, batch.num_rows - 1), *args, **kw)

    monkeypatch.setattr(pq.ParquetWriter, "write_batch", lossy)
    with pytest.raises(VerificationFailed) as failed:
        create(make_source(source_dsn, BYTEA), tmp_path, BYTEA_RULES)
    assert (
        "row_count public.files: 2 failing of 50: the extract read 50 rows, the extracted "
        "files hold 49, the masked files 48" in str(failed.value)
    )


def test_server_row_count_of_a_subset_is_of_the_rows_the_dataset_selects(
    source_dsn: str, tmp_path: Path
) -> None:
    source = make_source(source_dsn, BYTEA)
    dataset = tmp_path / "datasets"
    dataset.mkdir()
    (dataset / "few.yaml").write_text(
        "name: few\ndescription: a few files\ntables: {include: ['*']}\nsubset:\n"
        "  roots:\n    - {table: public.files, where: 'id <= 7'}\n"
    )
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(BYTEA_RULES)
    store = tmp_path / "store"
    create_snapshot(source, store, "few", "v1", rules_dir=rules, key=KEY, datasets_dir=dataset)
    (count,) = checks_list(store, "row_count", "few")
    assert count["checked"] == 7 and count["failures"] == 0


PARTITIONED_PARENT = """
CREATE TABLE events (id int, year int, PRIMARY KEY (id, year)) PARTITION BY LIST (year);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES IN (2024);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES IN (2025);
CREATE TABLE tickets (id int PRIMARY KEY, event_id int, event_year int,
                      FOREIGN KEY (event_id, event_year) REFERENCES events);
CREATE TABLE seats (id int, event_id int, event_year int,
                    FOREIGN KEY (event_id, event_year) REFERENCES events) PARTITION BY HASH (id);
CREATE TABLE seats_0 PARTITION OF seats FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE seats_1 PARTITION OF seats FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO events SELECT g, 2024 + g % 2 FROM generate_series(1, 10) g;
INSERT INTO tickets SELECT g, g % 10 + 1, 2024 + (g % 10 + 1) % 2 FROM generate_series(1, 40) g;
INSERT INTO seats SELECT * FROM tickets;
"""


def test_foreign_key_onto_a_partitioned_table_resolves_across_its_partitions(
    source_dsn: str, tmp_path: Path
) -> None:
    rules = """
tables:
  public.events:
    columns: {id: {strategy: keep, reason: key}, year: {strategy: keep, reason: key}}
  public.tickets:
    defaults: {strategy: keep, reason: "not personal"}
    columns: {id: {}, event_id: {}, event_year: {}}
  public.seats:
    defaults: {strategy: keep, reason: "not personal"}
    columns: {id: {}, event_id: {}, event_year: {}}
"""
    store = create(make_source(source_dsn, PARTITIONED_PARENT), tmp_path, rules)
    fks = {c["table"]: (c["checked"], c["failures"]) for c in checks_list(store, "foreign_key")}
    assert fks["public.tickets"] == (40, 0)
    # a partitioned child's key is checked on each of its partitions, once
    assert fks["public.seats_0"][1] == fks["public.seats_1"][1] == 0
    assert fks["public.seats_0"][0] + fks["public.seats_1"][0] == 40
    assert len(checks_list(store, "foreign_key")) == 3


def case_variant_of_row_0(column: str) -> Corruption:
    """Row 1 of the masked `column` becomes row 0's value upper-cased."""

    def change(original: pa.Table, masked: pa.Table) -> pa.Table:
        return set_cell(column, 1, masked[column][0].as_py().upper())(original, masked)

    return change


def try_sql(dsn: str, statement: str) -> str | None:
    """None if the cluster runs `statement`, else the reason it cannot."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(statement.encode())
    except psycopg.Error as exc:
        return str(exc).splitlines()[0]
    return None


@pytest.mark.parametrize(
    ("setup", "column_type"),
    [
        ("CREATE EXTENSION citext", "citext"),
        (
            "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', "
            "deterministic = false)",
            "text COLLATE ci",
        ),
    ],
)
def test_unique_key_under_case_insensitive_equality_is_checked_by_the_server(
    setup: str,
    column_type: str,
    source_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = try_sql(source_dsn, setup)
    if missing:
        pytest.skip(f"the test cluster cannot run {setup!r}: {missing}")
    make_source(
        source_dsn,
        f"CREATE TABLE users (id int PRIMARY KEY, email {column_type} NOT NULL UNIQUE);"
        "INSERT INTO users SELECT g, 'user' || g || '@corp.example' FROM generate_series(1, 20) g;",
    )
    rules = """
tables:
  public.users:
    columns:
      id: {strategy: keep, reason: key}
      email: {strategy: fake, provider: email, reason: "direct identifier, unique"}
"""
    store = create(source_dsn, tmp_path / "clean", rules)
    assert checks(store, "unique")["public.users.email"]["failures"] == 0
    corrupt_after_mask(monkeypatch, "users", case_variant_of_row_0("email"))
    with pytest.raises(VerificationFailed) as failed:
        create(source_dsn, tmp_path / "broken", rules)
    assert "unique public.users.email (rule fake): 1 failing of 20" in str(failed.value)


GENERATED = """
CREATE TABLE domains (name text PRIMARY KEY);
CREATE TABLE people (
    id int PRIMARY KEY,
    email text NOT NULL,
    domain text GENERATED ALWAYS AS (split_part(email, '@', 2)) STORED REFERENCES domains,
    CHECK (domain <> '' AND email <> '')
);
INSERT INTO domains VALUES ('corp.example');
INSERT INTO people SELECT g, 'p' || g || '@corp.example' FROM generate_series(1, 5) g;
"""


def test_checks_that_cannot_run_are_recorded_as_skipped_with_the_reason(
    source_dsn: str, tmp_path: Path
) -> None:
    rules = """
tables:
  public.domains:
    columns: {name: {strategy: keep, reason: "organisations"}}
  public.people:
    columns:
      id: {strategy: keep, reason: key}
      email: {strategy: fake, provider: email, reason: "direct identifier"}
"""
    store = create(make_source(source_dsn, GENERATED), tmp_path, rules)
    fk = checks(store, "foreign_key")["public.people.domain"]
    assert fk["detail"] == "skipped: people_domain_fkey is over a generated column"
    (check,) = checks_list(store, "check")
    assert str(check["detail"]).startswith("skipped: reads a generated column: CHECK")


BORN = """
CREATE TABLE people (id int PRIMARY KEY, born date CHECK (born > '1900-01-01'));
INSERT INTO people SELECT g, '1980-01-01'::date + g FROM generate_series(1, 5) g;
"""
BORN_RULES = """
tables:
  public.people:
    columns:
      id: {strategy: keep, reason: key}
      born: {strategy: date_shift, reason: "date of birth"}
"""


def test_a_value_the_server_refuses_is_not_quoted_in_the_failure(
    source_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corrupt_after_mask(monkeypatch, "people", set_cell("born", 0, "Jane Doe 1990"))
    with pytest.raises(VerificationFailed) as failed:
        create(make_source(source_dsn, BORN), tmp_path, BORN_RULES)
    message = str(failed.value)
    assert "the source server refused the masked values of public.people" in message
    assert 'invalid input syntax for type date: "..."' in message and "Jane" not in message


def test_table_dropped_before_the_server_checks_is_a_one_line_snapshot_error(
    source_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_source(source_dsn, BORN)

    def drop(_: pa.Table, masked: pa.Table) -> pa.Table:
        with psycopg.connect(source, autocommit=True) as conn:
            conn.execute("DROP TABLE people")
        return masked

    corrupt_after_mask(monkeypatch, "people", drop)
    with pytest.raises(SnapshotError) as failed:
        create(source, tmp_path, BORN_RULES)
    message = str(failed.value)
    assert message.startswith("verification could not read the constraints of public.people")
    assert "\n" not in message and failed.value.exit_code == 7


def test_server_messages_lose_the_values_they_quote() -> None:
    assert without_values('invalid input syntax for type integer: "4 Privet Drive"') == (
        'invalid input syntax for type integer: "..."'
    )
    assert without_values('relation "public.gone" does not exist') == (
        'relation "public.gone" does not exist'
    )


AWKWARD = [' "a\\', "b,{c}", "NULL", "", "  ", "é\u00a0\u3000x", None, "plain"]


def test_masked_values_reach_the_server_checks_exactly_whatever_their_characters(
    source_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The values travel to the server as array text built in Arrow: quotes, backslashes,
    braces, commas, spaces, the text NULL and SQL NULL must each arrive as they are."""
    make_source(
        source_dsn,
        "CREATE TABLE codes (id int PRIMARY KEY, code text CHECK (code IN ('plain', 'NULL')));"
        f"INSERT INTO codes SELECT g, 'plain' FROM generate_series(1, {len(AWKWARD)}) g;",
    )
    rules = """
tables:
  public.codes:
    columns:
      id: {strategy: keep, reason: key}
      code: {strategy: hash, reason: "test"}
"""

    def awkward(_: pa.Table, masked: pa.Table) -> pa.Table:
        return masked.set_column(1, pa.field("code", pa.string()), pa.array(AWKWARD))

    corrupt_after_mask(monkeypatch, "codes", awkward)
    with pytest.raises(VerificationFailed) as failed:
        create(source_dsn, tmp_path, rules)
    # every value but SQL NULL (a CHECK passes on NULL), the text NULL and 'plain' fails
    assert "check public.codes.code (rule hash): 5 failing of 8" in str(failed.value)


def test_json_leaves_and_array_elements_masked_as_themselves_are_masked_again(
    source_dsn: str, tmp_path: Path
) -> None:
    # pattern keeps 'dd-dd-dd' a 'dd-dd-dd': of the million such codes about one is its own
    # pseudonym under a namespace; a table holding it and 200 others failed the leak check
    everything = pa.array([f"{n:06d}" for n in range(1_000_000)])
    everything = pc.binary_join_element_wise(
        *(pc.utf8_slice_codeunits(everything, at, at + 2) for at in (0, 2, 4)), "-"
    )
    pattern = get_strategy("pattern")({}, column())
    for n in range(20):
        first = pattern.mask(everything, MaskContext(KEY, f"codes{n}"))
        fixed = everything.filter(pc.equal(everything, first)).to_pylist()
        if fixed:
            break
    assert fixed  # the case arises
    # with 200 others none of which is masked as it (pattern is not injective: a pseudonym
    # that is another row's original is a leak too, and not what this is about)
    pairs = zip(everything.to_pylist()[7919::4999], first.to_pylist()[7919::4999], strict=True)
    codes = [fixed[0], *(code for code, masked in pairs if masked != fixed[0])]
    source = make_source(
        source_dsn,
        "CREATE TABLE badges (id int PRIMARY KEY, doc jsonb, codes text[]);"
        "INSERT INTO badges SELECT g - 1, jsonb_build_object('code', c), ARRAY[c] "
        f"FROM unnest(ARRAY{codes!r}) WITH ORDINALITY t(c, g);",
    )
    rule = f"{{strategy: pattern, namespace: codes{n}}}"
    rules = f"""
tables:
  public.badges:
    columns:
      id: {{strategy: keep, reason: key}}
      doc: {{strategy: json, paths: {{"$.code": {rule}}}, reason: badge code}}
      codes: {{strategy: array, rule: {rule}, reason: badge codes}}
"""
    store = create(source, tmp_path, rules)
    leaks = checks(store, "leak")
    assert leaks["public.badges.doc"]["failures"] == leaks["public.badges.codes"]["failures"] == 0
    (path,) = (store / "fullset" / "v1").rglob("part-*.parquet")  # the one table
    rows = pq.read_table(path).to_pylist()
    masked = [(json.loads(row["doc"])["code"], parse_array(row["codes"])[1]) for row in rows]
    assert all(
        leaf != codes[row["id"]] and elements == [leaf]  # the array shares the namespace
        for (leaf, elements), row in zip(masked, rows, strict=True)
    )

"""The verification check functions on small Arrow tables, without a database."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pytest

from anonymiser.config import operator_identity
from anonymiser.errors import ConfigError, VerificationFailed
from anonymiser.manifest import Manifest
from anonymiser.verify.constraints import batched_duplicates, duplicate_rows
from anonymiser.verify.leaks import LeakPatterns, find_in, json_forms, matches
from anonymiser.verify.model import CheckResult, VerificationReport, VerifySettings
from anonymiser.verify.rescan import residual_findings, sample_rows
from anonymiser.verify.server import constraint_expression


def patterns(originals: list[str], produced: list[str] | None = None) -> LeakPatterns:
    found = LeakPatterns()
    found.add(("public.people", "email", "fake"), pa.array(originals))
    found.freeze(pa.array(produced or [], pa.string()))
    return found


def hits(found: LeakPatterns, values: list[str | None]) -> list[int]:
    return sorted({row for row, _, _ in find_in(found, pa.array(values, pa.string()))})


def test_duplicate_rows_counts_rows_beyond_the_first_and_ignores_null_keys() -> None:
    table = pa.table({"a": [1, 1, 1, 2, None, None], "b": ["x", "x", "y", "y", "z", "z"]})
    assert duplicate_rows(table, ["a"]) == 2
    assert duplicate_rows(table, ["a", "b"]) == 1
    assert duplicate_rows(table, ["a", "b"], drop_nulls=False) == 2  # NULLS NOT DISTINCT


@pytest.mark.parametrize("drop_nulls", [True, False])
@pytest.mark.parametrize("seed", range(4))
def test_batched_duplicates_count_what_a_group_by_of_the_whole_table_counts(
    seed: int, drop_nulls: bool
) -> None:
    rng = random.Random(seed)
    # NULL hashes as 0 and as "" do: those rows are candidates, the comparison tells them apart
    table = pa.table(
        {
            "a": [rng.choice([0, 1, 2, None]) for _ in range(300)],
            "b": [rng.choice(["", "x", "é", None]) for _ in range(300)],
            "c": [rng.choice([b"", b"\xff", None]) for _ in range(300)],
        }
    )
    for columns in (["a"], ["b"], ["c"], ["a", "b"], ["b", "a", "c"]):
        keys = table.select(columns)
        found = batched_duplicates(
            lambda keys=keys: keys.to_batches(max_chunksize=37), columns, drop_nulls=drop_nulls
        )
        assert found == (300, duplicate_rows(keys, columns, drop_nulls=drop_nulls))


def test_batched_duplicates_of_distinct_keys_read_them_once() -> None:
    reads = []

    def batches() -> list[pa.RecordBatch]:
        reads.append(1)
        return pa.table({"id": list(range(10_000))}).to_batches(max_chunksize=1000)

    assert batched_duplicates(batches, ["id"], drop_nulls=True) == (10_000, 0)
    assert len(reads) == 1


def test_leak_found_as_whole_value_inside_json_and_free_text_case_insensitively() -> None:
    found = patterns(["jane.doe@corp.example"])
    values = [
        "Jane.Doe@corp.example",
        '{"contact": {"email": "jane.doe@corp.example"}}',
        "{jane.doe@corp.example,x@y.example}",
        "mail jane.doe@corp.example today",
        "xjane.doe@corp.example",  # inside a longer word: not this value
        None,
        "clean",
    ]
    assert hits(found, values) == [0, 1, 2, 3]


def test_single_word_original_counts_only_as_a_whole_value() -> None:
    found = patterns(["beatrice"])
    assert hits(found, ["Beatrice", "Beatrice Primary School", "beatrice.x@corp.example"]) == [0]


def test_originals_written_by_masking_are_not_leaks() -> None:
    # "olivia" is someone's real name and another's pseudonym; "hart" sits inside a pseudonym
    found = patterns(["olivia", "hart", "jane.doe@corp.example"], ["olivia", "olivia.hart@ex.org"])
    assert found.counts == [1]
    assert hits(found, ["olivia", "hart", "jane.doe@corp.example"]) == [2]


def test_leak_search_maps_matches_to_rows_with_non_ascii_text() -> None:
    found = patterns(["jane.doe@corp.example"])
    assert hits(found, ["Zoë rang", "née Smith", "for jane.doe@corp.example", "Ünal"]) == [2]


def test_match_spanning_two_values_is_not_a_leak() -> None:
    found = patterns(["ab cd"])
    assert hits(found, ["xx ab", "cd yy", "ab cd"]) == [2]


def test_sample_rows_spreads_evenly_and_zero_means_all() -> None:
    assert sample_rows(10, 0) == set(range(10))
    assert sample_rows(10, 20) == set(range(10))
    picked = sample_rows(1000, 4)
    assert len(picked) == 4 and max(picked) >= 500


def test_presidio_rescan_counts_only_findings_that_survived_masking() -> None:
    pairs = [
        # the phone survived: residual
        ("call 020 7946 0018 today", "call 020 7946 0018 today"),
        # the email is a pseudonym the mask stage wrote: not residual
        ("mail jane@corp.example", "mail kim.lee@example.org"),
    ]
    found = residual_findings(pairs, ["PHONE_NUMBER", "EMAIL_ADDRESS", "URL"], 0.35)
    assert found == {"PHONE_NUMBER": 1}


def test_constraint_expression_strips_check_and_skips_not_valid() -> None:
    assert constraint_expression("CHECK ((band >= 1))") == "((band >= 1))"
    assert constraint_expression("CHECK ((band >= 1)) NO INHERIT") == "((band >= 1))"
    assert constraint_expression("CHECK ((band >= 1)) NOT VALID") is None


def test_failed_report_raises_one_line_naming_table_column_rule_and_count() -> None:
    report = VerificationReport(VerifySettings())
    report.add(CheckResult("row_count", "public.a", checked=5))
    report.add(CheckResult("unique", "public.people", "email", "fake", 10, 2, detail="dupes"))
    report.add(CheckResult("not_null", "public.people", "phone", "null", 10, 1))
    with pytest.raises(VerificationFailed) as failed:
        report.raise_if_failed("fullset", "v1")
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("fullset version v1 failed 2 of 3 verification checks")
    assert "unique public.people.email (rule fake): 2 failing of 10: dupes; not_null" in message
    assert report.to_dict()["passed"] is False


@pytest.mark.parametrize(
    "settings",
    [{"leak_min_length": 0}, {"presidio_sample": -1}, {"presidio_threshold": 2.0}],
)
def test_invalid_verification_settings_are_config_errors(settings: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        VerifySettings(**settings)  # type: ignore[arg-type]


def test_operator_is_the_flag_else_user_plus_the_ci_actor() -> None:
    assert operator_identity("alice", environ={"USER": "bob"}) == {"name": "alice"}
    assert operator_identity(None, environ={"USER": "bob", "GITHUB_ACTOR": "octo"}) == {
        "name": "bob",
        "ci_actor": "octo",
    }


def test_manifest_without_verification_fields_still_loads() -> None:
    old = Manifest("fullset", "v1", "0.1.0", "2025-01-01T00:00:00Z").to_dict()
    for name in ("verification", "operator", "reason"):
        old.pop(name)
    loaded = Manifest.from_json(json.dumps(old).encode(), where="old")
    assert loaded.verification == {} and loaded.operator == {} and loaded.reason == ""


@pytest.mark.parametrize(
    ("original", "document"),
    [
        ("Line one\nline two", '{"note": "line one\\nline two"}'),
        ('Kate "KJ" Jones', '{"name": "Kate \\"KJ\\" Jones"}'),
        ("C:\\Users\\kjones", '{"home": "C:\\\\Users\\\\kjones"}'),
        ("Zoë Adams", '{"name": "zo\\u00eb adams"}'),  # escaped by an ensure_ascii writer
        ("Élodie Martin", '{"name": "\\u00c9lodie Martin"}'),
        ("Élodie Martin", '{"name": "Élodie Martin"}'),  # jsonb writes non-ASCII as itself
    ],
)
def test_leak_found_in_json_where_the_original_is_escaped(original: str, document: str) -> None:
    assert hits(patterns([original]), [document, "clean"]) == [0]


def test_whole_value_match_ignores_surrounding_whitespace() -> None:
    found = patterns(["beatrice"])
    assert hits(found, ["  Beatrice ", "Beatrice Primary", "\tbeatrice\n"]) == [0, 2]


def test_json_forms_of_plain_ascii_are_none() -> None:
    assert json_forms("jane.doe@corp.example") == set()
    assert json_forms("zoë") == {"zo\\u00eb"}


def test_short_number_in_an_integer_column_is_a_coincidence_not_a_leak() -> None:
    # a 7-digit identifier equals some id of any table past a million rows
    found = patterns(["1234567", "4477009001"])
    ids = pa.array([1234567, 4477009001, 5], pa.int64())
    assert sorted({row for row, _, _ in find_in(found, ids)}) == [1]
    # ... but in its own integer column it is an original left in place
    rows, _, _ = matches(found, ids, home=frozenset({0}))
    assert sorted(set(rows.tolist())) == [0, 1]
    # in text, the short number is still a leak, as a value and as a word
    assert hits(found, ["1234567", "trn 1234567 on file", "12345678"]) == [0, 1]


def test_integer_columns_are_searched_only_for_originals_an_integer_can_spell() -> None:
    # "+4477009001" and "4477 009001" cannot be an integer's text: nothing to search for
    found = patterns(["+4477009001", "4477 009001", "1234567"])
    assert not found.integers
    assert list(find_in(found, pa.array([4477009001, 1234567], pa.int64()))) == []
    negative = patterns(["-4477009001"])
    assert negative.integers
    assert [row for row, _, _ in find_in(negative, pa.array([4477009001, -4477009001]))] == [1]


def test_checked_counts_distinct_originals_per_column_across_batches() -> None:
    found = LeakPatterns()
    emails, phones = ("public.people", "email", "fake"), ("public.people", "phone", "fake")
    found.add(emails, pa.array(["ann@corp.example", "bob@corp.example"]))
    found.add(emails, pa.array(["ann@corp.example", "cy@corp.example"]))  # a second batch
    found.add(phones, pa.array(["07700 900123", "ann@corp.example"]))  # one in both columns
    found.add(phones, pa.array(['say "hi" now']))  # its JSON-escaped form is not counted
    found.freeze(pa.array(["cy@corp.example"]))  # written by masking: not counted
    assert found.counts == [2, 3]

"""Reporters: JSON events one per line with the fields log pipelines need; never a secret."""

from __future__ import annotations

import io
import json

import pytest

from anonymiser.progress import JsonReporter, PlainReporter, redact, reporter, using_reporter


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("host=db password=s3cret dbname=app", "s3cret"),
        ("host=db password='two words' dbname=app", "two words"),
        ("postgresql://bob:hunter2@db:5432/app", "hunter2"),
        ("PASSWORD = abc", "abc"),
    ],
)
def test_redact_hides_passwords_in_dsns_and_urls(text: str, secret: str) -> None:
    assert secret not in redact(text)


def test_json_events_carry_dataset_version_stage_table_rows_bytes_seconds() -> None:
    out = io.StringIO()
    chosen = JsonReporter(stream=out)
    chosen.context("2025", "v1")
    with using_reporter(chosen):
        reporter().table_started("extract", "public.trainees")
        reporter().table_done("extract", "public.trainees", 10, 2048)
        reporter().stage_done("extract", 1.5, tables=1)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["table", "stage"]
    table = events[0]
    assert {k: table[k] for k in ("dataset", "version", "stage", "table", "rows", "bytes")} == {
        "dataset": "2025",
        "version": "v1",
        "stage": "extract",
        "table": "public.trainees",
        "rows": 10,
        "bytes": 2048,
    }
    assert table["seconds"] >= 0


def test_plain_lines_redact_a_password_that_slips_into_an_event() -> None:
    out = io.StringIO()
    PlainReporter(stream=out).event("connect", dsn="host=db password=leak")
    assert "leak" not in out.getvalue() and "connect" in out.getvalue()


def test_the_reporter_is_restored_after_the_command() -> None:
    before = reporter()
    with using_reporter(PlainReporter(stream=io.StringIO())):
        assert reporter() is not before
    assert reporter() is before

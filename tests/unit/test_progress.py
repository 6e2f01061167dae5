"""Reporters: stage and table events with the fields log pipelines need, from many threads,
in every format, and never a secret."""

from __future__ import annotations

import io
import json
import logging
import threading
from typing import Any

import pyarrow as pa
import pytest
from rich.console import Console

from anonymiser.progress import (
    JsonReporter,
    PlainReporter,
    Reporter,
    ReporterLogHandler,
    TerminalReporter,
    make_reporter,
    redact,
)
from anonymiser.progress import reporter as reporter_module


def events(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("host=db password=s3cret dbname=app", "s3cret"),
        ("host=db password='two words' dbname=app", "two words"),
        ("postgresql://bob:hunter2@db:5432/app", "hunter2"),
        ("PASSWORD = abc", "abc"),
        ("postgresql://:hunter2@db/app", "hunter2"),  # no user name
        ("host=db password='it\\'s secret' dbname=app", "s secret"),  # an escaped quote
    ],
)
def test_redact_hides_passwords_in_dsns_and_urls(text: str, secret: str) -> None:
    assert secret not in redact(text)


def test_stage_end_sums_its_tables_and_every_event_names_dataset_and_version() -> None:
    out = io.StringIO()
    chosen = JsonReporter(out)
    chosen.context("2025", "v1")
    with chosen.stage("extract"):
        for name, rows in (("public.a", 10), ("public.b", 5)):
            with chosen.table_progress("extract", name, total_rows=rows) as table:
                table.advance(rows=rows, size=rows * 100)
    got = events(out)
    assert [e["event"] for e in got] == ["stage_start", "table", "table", "stage_end"]
    assert all(e["dataset"] == "2025" and e["version"] == "v1" for e in got)
    assert {k: got[1][k] for k in ("stage", "table", "rows", "bytes")} == {
        "stage": "extract",
        "table": "public.a",
        "rows": 10,
        "bytes": 1000,
    }
    end = got[-1]
    assert (end["stage"], end["tables"], end["rows"], end["bytes"]) == ("extract", 2, 15, 1500)
    assert end["seconds"] >= 0 and "time" in end


def test_advance_from_many_threads_counts_every_batch() -> None:
    out = io.StringIO()
    chosen = JsonReporter(out)
    with chosen.stage("mask"), chosen.table_progress("mask", "public.t") as table:

        def work() -> None:
            for _ in range(2000):
                table.advance(rows=1, size=3)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    end = events(out)[-1]
    assert (end["rows"], end["bytes"]) == (8000, 24000)


def test_batches_counts_arrow_rows_and_bytes() -> None:
    out = io.StringIO()
    chosen = JsonReporter(out)
    batch = pa.record_batch({"x": pa.array(range(100), pa.int64())})
    with chosen.table_progress("restore", "public.t", total_rows=200) as table:
        assert len(list(table.batches([batch, batch]))) == 2
    done = events(out)[-1]
    assert (done["rows"], done["bytes"]) == (200, 2 * batch.nbytes)


def test_a_failing_stage_reports_stage_failed_and_no_table_event() -> None:
    out = io.StringIO()
    chosen = JsonReporter(out)
    with (
        pytest.raises(ValueError),
        chosen.stage("publish"),
        chosen.table_progress("publish", "public.t") as table,
    ):
        table.advance(rows=1)
        raise ValueError("boom")
    got = events(out)
    assert [e["event"] for e in got] == ["stage_start", "stage_failed"]
    assert got[-1]["error"] == "ValueError"


def test_progress_events_carry_rate_and_eta_when_the_total_is_known(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reporter_module, "PROGRESS_EVERY", 0.0)
    out = io.StringIO()
    chosen = JsonReporter(out)
    with chosen.table_progress("extract", "public.known", total_rows=100) as known:
        known.advance(rows=25)
    with chosen.table_progress("extract", "public.unknown") as unknown:
        unknown.advance(rows=25)
    ticks = [e for e in events(out) if e["event"] == "progress"]
    assert [t["table"] for t in ticks] == ["public.known", "public.unknown"]
    assert ticks[0]["total_rows"] == 100 and ticks[0]["eta_seconds"] is not None
    assert ticks[0]["rows_per_second"] >= 0
    assert ticks[1]["total_rows"] is None and ticks[1]["eta_seconds"] is None


def test_quiet_keeps_only_log_records_and_errors() -> None:
    out = io.StringIO()
    chosen = PlainReporter(out, quiet=True)
    with chosen.stage("extract"), chosen.table_progress("extract", "public.t") as table:
        table.advance(rows=1)
    chosen.log("warning", "anonymiser", "careful")
    chosen.error("it broke", exit_code=7, kind="SnapshotError", details=[])
    assert out.getvalue().splitlines() == ["warning: careful", "error: it broke"]


def test_plain_lines_redact_a_password_that_slips_into_an_event() -> None:
    out = io.StringIO()
    PlainReporter(out).emit("stage_start", stage="x", dsn="host=db password=leak")
    assert "leak" not in out.getvalue() and "stage_start" in out.getvalue()


def test_logging_records_go_out_as_json_events_without_passwords() -> None:
    out = io.StringIO()
    handler = ReporterLogHandler(JsonReporter(out))
    logger = logging.getLogger("anonymiser.test_progress")
    logger.addHandler(handler)
    try:
        logger.warning("cannot reach %s", "postgresql://app:hunter2@db/app")
        logger.info("below the handler's level")
    finally:
        logger.removeHandler(handler)
    (record,) = events(out)
    assert record["event"] == "log" and record["level"] == "warning"
    assert record["logger"] == "anonymiser.test_progress"
    assert "hunter2" not in out.getvalue() and "app:***@db" in record["message"]


def test_terminal_reporter_draws_bars_and_prints_finished_tables_and_stages() -> None:
    out = io.StringIO()
    chosen = TerminalReporter(Console(file=out, force_terminal=True, width=120))
    with chosen.stage("extract"):
        with chosen.table_progress("extract", "public.t", total_rows=10) as table:
            table.advance(rows=10, size=4096)
        with chosen.table_progress("publish", "public.t", total_bytes=4096) as table:
            table.advance(rows=10, size=4096)
    chosen.close()
    text = out.getvalue()
    assert "public.t: 10 rows, 4.0 KiB" in text
    assert "extract done" in text


@pytest.mark.parametrize(
    ("log_format", "kind"),
    [("json", JsonReporter), ("plain", PlainReporter), ("auto", PlainReporter)],
)
def test_auto_is_plain_when_not_a_terminal(log_format: str, kind: type[Reporter]) -> None:
    assert type(make_reporter(log_format, stream=io.StringIO())) is kind


def test_json_stays_valid_when_a_message_ends_with_a_password() -> None:
    out = io.StringIO()
    JsonReporter(out).error(
        "cannot connect to host=db password=s3cret",
        exit_code=3,
        kind="ConnectionFailed",
        details=["dsn host=db password=s3cret"],
    )
    (record,) = events(out)
    assert record["message"] == "cannot connect to host=db password=***"
    assert "s3cret" not in out.getvalue()

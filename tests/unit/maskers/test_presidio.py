from __future__ import annotations

import itertools
import re
import socket
from typing import Any

import pyarrow as pa
import pytest

from anonymiser.maskers import RuleError, get_strategy, presidio
from anonymiser.maskers._scan import scanner
from anonymiser.maskers.presidio import DEFAULT_ENTITIES
from tests.unit.maskers.conftest import column, column_pseudonyms, ctx, run

TEXT = "Call Jane Smith on 07700 900123 or jane@corp.co.uk. NI: AB123456C, lives SW1A 1AA."
KNOWN = {
    "PERSON": {"Jane Smith": "Alice Jones"},
    "EMAIL_ADDRESS": {"jane@corp.co.uk": "alice.j@example.com"},
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Presidio must never download a model or a list: any connection attempt fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("presidio tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_entities_and_known_values_are_replaced_offline() -> None:
    (out,) = run("presidio", {}, [TEXT], context=ctx(known=KNOWN))
    for original in ("Jane Smith", "07700 900123", "jane@corp.co.uk", "AB123456C", "SW1A 1AA"):
        assert original not in out
    assert "Alice Jones" in out and "alice.j@example.com" in out
    assert re.search(r"NI: [A-Z]{2}\d{6}[A-D]", out)


def test_known_values_match_whatever_the_case_and_spacing() -> None:
    (out,) = run("presidio", {}, ["met JANE  smith today"], context=ctx(known=KNOWN))
    assert out == "met Alice Jones today"


def test_free_text_columns_of_one_snapshot_share_one_known_values_index() -> None:
    # the index is the size of the snapshot's people (~1.8M values at 1M demo rows): built once
    context = ctx(known={kind: dict(values) for kind, values in KNOWN.items()})
    run("presidio", {}, [TEXT], context=context)
    first = presidio._known_values(context.known)
    (out,) = run("presidio", {"threshold": 0.5}, [TEXT], spec=column(), context=context)
    assert presidio._known_values(context.known) is first and "Alice Jones" in out
    # another snapshot's values replace it, whatever id() its mapping gets
    other = ctx(known={"PERSON": {"Jane Smith": "Beth Brown"}})
    (out,) = run("presidio", {}, [TEXT], context=other)
    assert "Beth Brown" in out and presidio._known_values(other.known) is not first


@pytest.mark.parametrize("value", ["", "nothing personal here", "zoë 😀", None])
def test_text_without_pii_is_kept(value: str | None) -> None:
    assert run("presidio", {}, [value]) == [value]


def test_presidio_is_deterministic_and_keyed() -> None:
    texts = ["mail bob@school.org.uk now", "ring 07700 900456"]
    first = run("presidio", {}, texts)
    assert run("presidio", {}, texts) == first
    assert run("presidio", {}, texts, context=ctx(key=b"other" * 8)) != first


def test_a_model_that_is_not_installed_is_not_downloaded() -> None:
    (out,) = run("presidio", {"model": "en_core_web_lg"}, ["mail bob@school.org.uk"])
    assert "bob@school.org.uk" not in out


@pytest.mark.parametrize("params", [{"entities": "EMAIL"}, {"threshold": 2}, {"entities": [1]}])
def test_presidio_refuses_bad_params(params: dict[str, object]) -> None:
    with pytest.raises(RuleError):
        run("presidio", params, [])


TRICKY = [
    TEXT,
    "phone number (212) 555-0100, call 020 7946 0958 ext. 123 at 10:30",
    "card 4111 1111 1111 1111 and iban GB82 WEST 1234 5698 7654 32 transaction",
    "server ip 192.168.0.1 and fe80::1ff:fe23:4567:890a, url http://x.y.com",
    "NHS number 943 476 5919; postcode M1 1AE delivery address EC1A 1BB",
    "mail to x@y.com, see www.gov.uk/guidance or test@www.gov.uk",
    "number 900 123 1234 postcode 12345",
]


@pytest.mark.parametrize("threshold", [0.3, 0.35, 0.5, 0.6, 0.9])
def test_the_fast_scanner_finds_what_presidio_analyze_finds(threshold: float) -> None:
    from anonymiser.maskers._scan import Scanner

    scanner = Scanner(None, DEFAULT_ENTITIES, threshold)
    assert scanner.fast
    for text in TRICKY:
        results = scanner.engine.analyze(
            text, language="en", entities=list(DEFAULT_ENTITIES), score_threshold=threshold
        )
        assert sorted(scanner.scan(text)) == sorted(
            (r.start, r.end, r.entity_type, r.score) for r in results
        )


def test_a_column_of_nulls_builds_no_scanner() -> None:
    scanner.cache_clear()
    assert run("presidio", {}, [None, None], context=ctx(known=KNOWN)) == [None, None]
    assert scanner.cache_info().currsize == 0


def test_a_finding_faked_as_itself_gets_another_fake() -> None:
    # an IP address keeps its shape (pattern): of the 10 000 d.d.d.d addresses about one is
    # its own fake under a given key; look for such a key, then scrub a text holding it
    pattern = get_strategy("pattern")({}, column())
    addresses = [".".join(digits) for digits in itertools.product("0123456789", repeat=4)]
    for n in range(1, 50):
        context = ctx(key=bytes([n]) * 32)
        fakes = pattern.mask(pa.array(addresses), context.derive(namespace="people.col/IP_ADDRESS"))
        fixed = [a for a, f in zip(addresses, fakes.to_pylist(), strict=True) if a == f]
        if fixed:
            break
    address = fixed[0]
    text = f"host {address} is down"
    (out,) = run("presidio", {}, [text], context=context)
    _, (again,) = column_pseudonyms(
        {"strategy": "pattern"}, [address], context.derive(namespace="people.col/IP_ADDRESS")
    )
    assert again != address and out == f"host {again} is down"
    assert run("presidio", {}, ["ping 1.2.3.4", text, "x"], context=context)[1] == out
    assert run("presidio", {}, [text], context=context) == [out]

"""The vectorised keyed digest: real SipHash-2-4, batch-independent, nulls and long values."""

from __future__ import annotations

import pyarrow as pa
import pytest

from anonymiser.maskers.base import _siphash_many, byte_view
from tests.unit.maskers.conftest import ctx


def test_siphash_matches_the_reference_vectors() -> None:
    # from the SipHash paper: key 00..0f, messages 00..(n-1)
    messages = pa.array([bytes(range(n)) for n in (0, 8, 15)], pa.binary())
    offsets, data, _ = byte_view(messages)
    out = _siphash_many(offsets, data, bytes(range(16)), b"x" * 32)
    assert [int(x) for x in out] == [0x726FDB47DD0E0E31, 0x93F5F5799A932462, 0xA129CA6149BE45E5]


@pytest.mark.parametrize("value", ["", "a", "x" * 7, "x" * 8, "zoë", "y" * 128, "z" * 5000])
def test_digest_of_a_value_does_not_depend_on_its_batch(value: str) -> None:
    alone = ctx().digests(pa.array([value]))[0]
    batch = ctx().digests(pa.array(["other", value, None, "q" * 300]))
    assert batch[1] == alone
    assert batch[2] == 0


def test_wide_digests_first_word_is_the_digest() -> None:
    values = pa.array(["a", "b"])
    assert (ctx().wide_digests(values, 3)[:, 0] == ctx().digests(values)).all()

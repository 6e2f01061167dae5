"""fake: realistic Faker values (names, emails, phones, addresses...), chosen by keyed digest.

Faker costs tens of microseconds a call, so it is never called per value: each (locale, provider)
gets a fixed pool of distinct Faker outputs made once from a fixed seed, and every value picks
from it by its keyed digest (numpy). Names combine two pools; emails, user names and phone numbers
add digest digits, so a unique column rarely needs a second round.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from faker import Faker
from faker.config import AVAILABLE_LOCALES

from anonymiser.maskers._vector import digit_strings, fit_length, mix, pick, text_problem
from anonymiser.maskers.base import (
    ColumnSpec,
    MaskContext,
    Param,
    RuleError,
    Strategy,
    map_unique,
    register,
)

__all__ = ["Fake", "fake_values", "pool"]

POOL_SIZE = 3000
_EMAIL_DOMAINS = pa.array(["example.com", "example.org", "example.net"])  # reach no one
_EMAILS = frozenset({"email", "safe_email", "free_email", "company_email", "ascii_email"})
_U64 = np.uint64


@functools.lru_cache(maxsize=8)
def _faker(locale: str) -> Faker:
    return Faker(locale)


@functools.lru_cache(maxsize=128)
def pool(locale: str, provider: str) -> pa.Array:
    """Distinct outputs of one Faker provider, the same in every process for one Faker release."""
    faker = Faker(locale)
    faker.seed_instance(0x5EED)
    make: Callable[[], object] = getattr(faker, provider)
    seen: dict[str, None] = {}
    for _ in range(POOL_SIZE):
        seen.setdefault(str(make()), None)
    return pa.array(list(seen), pa.string())


@functools.lru_cache(maxsize=128)
def _ascii_pool(locale: str, provider: str) -> pa.Array:
    """A pool's entries in lower-case ASCII letters only, for email and user names (made once:
    picking from it gives what lowering each pick gave, at none of the per-value regex cost)."""
    return pc.replace_substring_regex(pc.utf8_lower(pool(locale, provider)), "[^a-z]", "")


def fake_values(provider: str, locale: str, digests: np.ndarray) -> pa.Array:
    """One fake per keyed digest (the vectorised core, also used by presidio and json)."""
    if provider == "name":
        return pc.binary_join_element_wise(
            pick(pool(locale, "first_name"), digests, 1),
            pick(pool(locale, "last_name"), digests, 2),
            " ",
        )
    if provider in _EMAILS or provider == "user_name":
        first = pick(_ascii_pool(locale, "first_name"), digests, 1)
        last = pick(_ascii_pool(locale, "last_name"), digests, 2)
        number = digit_strings(mix(digests, 3) % _U64(10**4), 4)
        if provider == "user_name":
            return pc.binary_join_element_wise(first, last, number, "")
        domain = pick(_EMAIL_DOMAINS, digests, 4)
        return pc.binary_join_element_wise(first, ".", last, number, "@", domain, "")
    if provider == "phone_number":
        # a real-looking number from the pool with its last four digits from the digest
        base = pc.utf8_slice_codeunits(pick(pool(locale, provider), digests, 1), 0, -4)
        return pc.binary_join_element_wise(base, digit_strings(mix(digests, 5), 4), "")
    return pick(pool(locale, provider), digests, 1)


@register
class Fake(Strategy):
    """A realistic value from a Faker `provider` in `locale` (first_name, last_name, name,
    email, phone_number, address, postcode, company, ...), chosen by the keyed digest of the
    input, so the same input always gets the same fake. Fitted to varchar(n); unique columns
    get distinct fakes.

    Example: {strategy: fake, provider: email, reason: "direct identifier"}
    """

    name = "fake"
    summary = "Realistic Faker value (first_name, name, email, phone_number, address, postcode...)."
    may_collide = True
    params: ClassVar[Mapping[str, Param]] = {
        "provider": Param(str, "Faker provider: first_name, last_name, name, email, ...", True),
        "locale": Param(str, "Faker locale", default="en_GB"),
    }

    def check_column(self, column: ColumnSpec) -> str | None:
        provider, locale = self.options["provider"], self.options["locale"]
        if locale not in AVAILABLE_LOCALES:
            raise RuleError(f"strategy fake: unknown locale {locale!r}")
        if provider not in _EMAILS and provider not in ("name", "user_name"):
            make = getattr(_faker(locale), provider, None)
            if provider.startswith("_") or not callable(make):
                raise RuleError(f"strategy fake: Faker has no provider {provider!r} for {locale}")
            try:
                sample = make()
            except TypeError:
                raise RuleError(f"strategy fake: provider {provider!r} needs arguments") from None
            if not isinstance(sample, str):
                raise RuleError(f"strategy fake: provider {provider!r} does not make text")
        return text_problem(self.name, column)

    def mask(self, values: pa.Array, ctx: MaskContext) -> pa.Array:
        provider, locale = self.options["provider"], self.options["locale"]

        def fake(unique: pa.Array) -> pa.Array:
            made = fake_values(provider, locale, ctx.digests(unique))
            return fit_length(made, self.column.max_length).cast(unique.type)

        return map_unique(values, fake)

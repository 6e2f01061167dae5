"""Shared fixtures: one throwaway PostgreSQL cluster per test session, fresh databases per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from anonymiser.pg.ephemeral import EphemeralCluster

MakeDatabase = Callable[..., str]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[EphemeralCluster]:
    """A real PostgreSQL server on a random 127.0.0.1 port, shared by the whole session."""
    with EphemeralCluster() as cluster:
        yield cluster


@pytest.fixture
def make_database(pg_cluster: EphemeralCluster) -> Iterator[MakeDatabase]:
    """Factory `make_database(prefix="db") -> DSN` of a new, empty, uniquely named database.

    Every database it made is dropped (WITH (FORCE)) when the test ends.
    """
    created: list[str] = []

    def make(prefix: str = "db") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        dsn = pg_cluster.create_database(name)
        created.append(name)
        return dsn

    yield make
    for name in reversed(created):
        pg_cluster.drop_database(name)


@pytest.fixture
def source_dsn(make_database: MakeDatabase) -> str:
    """DSN of an empty database playing the production source."""
    return make_database("source")


@pytest.fixture
def target_dsn(make_database: MakeDatabase) -> str:
    """DSN of an empty database playing the restore target."""
    return make_database("target")

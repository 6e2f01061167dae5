"""The store contract, run against every backend: a local directory and S3 (moto's HTTP server).

To add a backend: give `store_factory` a new param that builds an empty store of that kind.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from anonymiser.errors import ConfigError, NotFound, StoreError
from anonymiser.stores import LocalStore, Store, open_store
from anonymiser.stores.s3 import ENV_ADDRESSING, S3Store

StoreFactory = Callable[[], Store]


@pytest.fixture(params=["local", "s3", "s3-path-style"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Builds a fresh, empty store of the parametrised backend."""
    counter = iter(range(1_000_000))

    def local() -> Store:
        return LocalStore(tmp_path / f"store-{next(counter)}", create=True)

    def s3() -> Store:
        make_s3_store = request.getfixturevalue("make_s3_store")
        return open_store(make_s3_store(f"prefix-{next(counter)}"))

    def s3_path_style() -> Store:
        make_s3_store = request.getfixturevalue("make_s3_store")
        return open_store(make_s3_store("deep/prefix") + "?addressing=path")

    factories: dict[str, StoreFactory] = {"local": local, "s3": s3, "s3-path-style": s3_path_style}
    return factories[request.param]


@pytest.fixture
def store(store_factory: StoreFactory) -> Store:
    return store_factory()


class TestStoreContract:
    def test_put_file_returns_size_and_sha256_of_the_content(
        self, store: Store, tmp_path: Path
    ) -> None:
        data = os.urandom(100_000) + b"\x00end"
        source = tmp_path / "upload.bin"
        source.write_bytes(data)
        size, digest = store.put_file("ds/v1/data/t/part-0.parquet", source)
        assert size == len(data)
        assert digest == hashlib.sha256(data).hexdigest()
        assert store.get_bytes("ds/v1/data/t/part-0.parquet") == data

    def test_put_file_of_an_empty_file(self, store: Store, tmp_path: Path) -> None:
        source = tmp_path / "empty"
        source.write_bytes(b"")
        assert store.put_file("a/empty", source) == (0, hashlib.sha256(b"").hexdigest())
        assert store.exists("a/empty")

    def test_put_bytes_overwrites_by_default(self, store: Store) -> None:
        assert store.put_bytes("k/obj", b"one") is True
        assert store.put_bytes("k/obj", b"two") is True
        assert store.get_bytes("k/obj") == b"two"

    def test_put_bytes_if_absent_keeps_the_first_content(self, store: Store) -> None:
        assert store.put_bytes("ds/v1/manifest.json", b"first", if_absent=True) is True
        assert store.put_bytes("ds/v1/manifest.json", b"second", if_absent=True) is False
        assert store.get_bytes("ds/v1/manifest.json") == b"first"
        assert store.list_dir("ds/v1") == ["manifest.json"]

    def test_get_bytes_of_a_missing_key_is_not_found(self, store: Store) -> None:
        with pytest.raises(NotFound, match="nothing/here"):
            store.get_bytes("nothing/here")

    def test_local_path_gives_a_readable_copy(self, store: Store, tmp_path: Path) -> None:
        store.put_bytes("x/y.bin", b"payload")
        cache = tmp_path / "cache"
        cache.mkdir()
        assert store.local_path("x/y.bin", cache).read_bytes() == b"payload"

    def test_local_path_of_a_missing_key_is_not_found(self, store: Store, tmp_path: Path) -> None:
        with pytest.raises(NotFound):
            store.local_path("x/missing.bin", tmp_path)

    def test_exists_sees_objects_and_not_absent_keys(self, store: Store) -> None:
        store.put_bytes("a/b/c", b"1")
        assert store.exists("a/b/c")
        assert not store.exists("a/b/d")

    def test_list_dir_names_immediate_children_sorted(self, store: Store) -> None:
        for key in ("ds/v2/manifest.json", "ds/v1/manifest.json", "ds/v1/data/t/p0", "other/x"):
            store.put_bytes(key, b".")
        assert store.list_dir("") == ["ds", "other"]
        assert store.list_dir("ds") == ["v1", "v2"]
        assert store.list_dir("ds/v1") == ["data", "manifest.json"]
        assert store.list_dir("missing") == []

    def test_delete_prefix_removes_everything_below_it_only(self, store: Store) -> None:
        store.put_bytes("ds/v1/a", b"1")
        store.put_bytes("ds/v1/sub/b", b"2")
        store.put_bytes("ds/v2/a", b"3")
        store.delete_prefix("ds/v1")
        assert not store.exists("ds/v1/a")
        assert not store.exists("ds/v1/sub/b")
        assert store.get_bytes("ds/v2/a") == b"3"
        assert store.list_dir("ds") == ["v2"]

    def test_delete_removes_one_object_and_ignores_an_absent_one(self, store: Store) -> None:
        store.put_bytes("ds/v1/manifest.json", b"{}")
        store.put_bytes("ds/v1/runs/r1/f", b"1")
        store.delete("ds/v1/manifest.json")
        store.delete("ds/v1/manifest.json")
        assert not store.exists("ds/v1/manifest.json")
        assert store.get_bytes("ds/v1/runs/r1/f") == b"1"

    @pytest.mark.parametrize("key", ["../escape", "a/../../escape", "a/./b", ".."])
    def test_keys_with_dot_segments_are_refused(
        self, store: Store, key: str, tmp_path: Path
    ) -> None:
        with pytest.raises(StoreError, match="invalid store key"):
            store.put_bytes(key, b"x")
        with pytest.raises(StoreError):
            store.get_bytes(key)
        with pytest.raises(StoreError):
            store.exists(key)
        with pytest.raises(StoreError):
            store.delete_prefix(key)
        assert not (tmp_path / "escape").exists()


class TestLocalStore:
    def test_list_dir_ignores_hidden_temporary_files(self, tmp_path: Path) -> None:
        store = LocalStore(tmp_path, create=True)
        store.put_bytes("ds/v1/manifest.json", b"{}")
        (tmp_path / "ds" / "v1" / ".part-0.parquet.abc.part").write_bytes(b"half written")
        (tmp_path / ".hidden-dataset").mkdir()
        assert store.list_dir("ds/v1") == ["manifest.json"]
        assert store.list_dir("") == ["ds"]

    def test_writes_leave_no_temporary_files_behind(self, tmp_path: Path) -> None:
        store = LocalStore(tmp_path, create=True)
        source = tmp_path / "src.bin"
        source.write_bytes(b"data")
        store.put_file("ds/v1/f", source)
        store.put_bytes("ds/v1/m", b"1", if_absent=True)
        store.put_bytes("ds/v1/m", b"2", if_absent=True)
        assert sorted(p.name for p in (tmp_path / "ds" / "v1").iterdir()) == ["f", "m"]

    def test_missing_root_is_a_store_error(self, tmp_path: Path) -> None:
        missing = tmp_path / "no-such-store"
        with pytest.raises(StoreError, match="no-such-store"):
            LocalStore(missing)
        assert not missing.exists()

    def test_missing_root_is_created_by_the_first_write_when_asked(self, tmp_path: Path) -> None:
        root = tmp_path / "new" / "store"
        store = LocalStore(root, create=True)
        assert not root.exists()  # a run that fails before publishing leaves nothing behind
        assert store.list_dir("") == []
        assert not store.exists("ds/v1/manifest.json")
        store.put_bytes("ds/v1/manifest.json", b"{}")
        assert root.is_dir()
        assert store.list_dir("") == ["ds"]

    def test_root_that_is_a_file_cannot_be_created(self, tmp_path: Path) -> None:
        blocker = tmp_path / "a-file"
        blocker.write_text("x")
        with pytest.raises(StoreError, match="a-file"):
            LocalStore(blocker, create=True)


class TestOpenStore:
    def test_plain_path_opens_a_local_store(self, tmp_path: Path) -> None:
        store = open_store(str(tmp_path))
        assert isinstance(store, LocalStore)
        assert store.root == tmp_path

    def test_file_url_opens_a_local_store(self, tmp_path: Path) -> None:
        store = open_store(tmp_path.as_uri())
        assert isinstance(store, LocalStore)
        assert store.root == tmp_path

    def test_a_store_instance_is_returned_as_is(self, tmp_path: Path) -> None:
        store = LocalStore(tmp_path)
        assert open_store(store) is store

    def test_unknown_scheme_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError, match="ftp"):
            open_store("ftp://host/path")


class TestS3Store:
    def test_a_file_larger_than_one_chunk_goes_up_and_down_in_parts(
        self, make_s3_store: Callable[..., str], tmp_path: Path
    ) -> None:
        data = os.urandom(40 * 1024 * 1024)  # 3 parts of 16 MiB
        source = tmp_path / "big.bin"
        source.write_bytes(data)
        store = open_store(make_s3_store())
        assert store.put_file("ds/v1/big.bin", source) == (
            len(data),
            hashlib.sha256(data).hexdigest(),
        )
        cache = tmp_path / "cache"
        copy = store.local_path("ds/v1/big.bin", cache)
        assert copy.is_relative_to(cache)
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
        assert [p.name for p in copy.parent.iterdir()] == ["big.bin"]  # no partial file left

    def test_only_one_of_many_concurrent_conditional_writers_wins(
        self, make_s3_store: Callable[..., str]
    ) -> None:
        store = open_store(make_s3_store())
        with ThreadPoolExecutor(8) as pool:
            won = list(
                pool.map(
                    lambda i: store.put_bytes("ds/v1/m.json", f"{i}".encode(), if_absent=True),
                    range(8),
                )
            )
        assert won.count(True) == 1
        assert store.get_bytes("ds/v1/m.json") == str(won.index(True)).encode()

    def test_a_missing_bucket_is_one_line_store_error(self, s3_env: dict[str, str]) -> None:
        store = open_store("s3://no-such-bucket-here/prefix")
        with pytest.raises(StoreError, match="bucket no-such-bucket-here does not exist") as info:
            store.list_dir("")
        assert "\n" not in str(info.value)

    def test_an_unreachable_endpoint_is_a_store_error_without_secrets(
        self, s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value")
        with pytest.raises(StoreError, match=r"cannot read ds/v1/manifest\.json") as info:
            open_store("s3://bucket-x/p").get_bytes("ds/v1/manifest.json")
        assert "very-secret-value" not in str(info.value)
        assert "\n" not in str(info.value)

    def test_credentials_in_the_url_are_refused_and_not_echoed(self) -> None:
        with pytest.raises(ConfigError, match="cannot carry credentials") as info:
            open_store("s3://AKIAEXAMPLE:secretpart@bucket/prefix")
        assert "secretpart" not in str(info.value)

    def test_addressing_style_comes_from_the_url_or_the_environment(
        self, s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        assert S3Store.from_url("s3://bucket/p?addressing=path").addressing == "path"
        monkeypatch.setenv(ENV_ADDRESSING, "virtual")
        assert S3Store.from_url("s3://bucket/p").addressing == "virtual"
        with pytest.raises(ConfigError, match="sideways"):
            S3Store.from_url("s3://bucket/p?addressing=sideways")
        with pytest.raises(ConfigError, match="unknown option 'region'"):
            S3Store.from_url("s3://bucket/p?region=eu-west-2")

    def test_deleting_the_whole_store_is_refused(self, make_s3_store: Callable[..., str]) -> None:
        with pytest.raises(StoreError, match="whole store"):
            open_store(make_s3_store()).delete_prefix("")

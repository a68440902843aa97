"""The bytecode store: keys, checks, atomic publication, and reuse by compile_tree."""

from __future__ import annotations

import errno
import hashlib
import importlib
import importlib.util
import os
import py_compile
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shipyard_runners import bytecode
from shipyard_runners.bytecode import BytecodeStore, checked_pyc, compile_tree, pyc_path

TAG = sys.implementation.cache_tag


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pyc_of(source: Path) -> Path:
    return Path(pyc_path(str(source), TAG))


def write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
def store(tmp_path: Path) -> BytecodeStore:
    return BytecodeStore(tmp_path / "store")


@pytest.fixture
def fresh_import(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path, str], object]]:
    """Import ``name`` from ``directory`` as a fresh module, writing no bytecode."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    imported: list[str] = []

    def load(directory: Path, name: str) -> object:
        monkeypatch.syspath_prepend(str(directory))
        importlib.invalidate_caches()
        sys.modules.pop(name, None)
        imported.append(name)
        return importlib.import_module(name)

    yield load
    for name in imported:
        sys.modules.pop(name, None)


class TestPycFormat:
    def test_a_checked_hash_pyc_is_what_py_compile_makes(self, tmp_path: Path) -> None:
        source = tmp_path / "mod.py"
        source.write_text("VALUE = 'x' * 3\n\ndef f(a):\n    return a + 1\n")
        made = py_compile.compile(
            str(source), cfile=str(tmp_path / "ref.pyc"), doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )
        assert checked_pyc(source.read_bytes(), str(source)) == Path(made).read_bytes()

    def test_header_holds_magic_checked_flags_and_source_hash(self) -> None:
        pyc = checked_pyc(b"X = 1\n", "x.py")
        assert pyc[:4] == importlib.util.MAGIC_NUMBER
        assert int.from_bytes(pyc[4:8], "little") == 0b11
        assert pyc[8:16] == importlib.util.source_hash(b"X = 1\n")

    def test_bad_source_raises(self) -> None:
        with pytest.raises(SyntaxError):
            checked_pyc(b"def f(:\n", "bad.py")

    def test_pyc_path_is_cache_from_source(self, tmp_path: Path) -> None:
        source = str(tmp_path / "pkg" / "mod.py")
        assert pyc_path(source, TAG) == importlib.util.cache_from_source(source)


class TestKeys:
    def test_entries_are_keyed_by_sha256_under_the_bytecode_format(
        self, store: BytecodeStore
    ) -> None:
        key = digest(b"X = 1\n")
        entry = Path(store.entry(key))
        assert entry == (store.root / f"{TAG}-{importlib.util.MAGIC_NUMBER.hex()}"
                         / key[:2] / f"{key}.pyc")

    def test_other_interpreters_have_their_own_directory(self, tmp_path: Path) -> None:
        ours = BytecodeStore(tmp_path)
        other = BytecodeStore(tmp_path, cache_tag="cpython-312", magic=b"\xcb\r\r\n")
        key = digest(b"X = 1\n")
        assert Path(ours.entry(key)).parent.parent != Path(other.entry(key)).parent.parent

    @pytest.mark.parametrize("key", ["", "abc", "g" * 64, "A" * 64, "../" + "a" * 61])
    def test_anything_but_a_sha256_hex_digest_is_refused(
        self, store: BytecodeStore, key: str
    ) -> None:
        with pytest.raises(ValueError):
            store.entry(key)


def put(store: BytecodeStore, source: bytes, pyc: bytes, tmp_path: Path) -> Path:
    """Record ``pyc`` in the store as the entry for ``source``, as compile_tree does."""
    written = tmp_path / f"written-{digest(pyc)[:8]}.pyc"
    written.write_bytes(pyc)
    store.commit(store.stage(str(written)), digest(source), pyc[8:16])
    return Path(store.entry(digest(source)))


class TestLookup:
    def test_a_missing_entry_is_a_miss(self, store: BytecodeStore, tmp_path: Path) -> None:
        target = tmp_path / "mod.pyc"
        key = digest(b"X = 1\n")
        assert not store.link_into(key, importlib.util.source_hash(b"X = 1\n"), str(target))
        assert not target.exists()

    def test_a_valid_entry_is_hard_linked(self, store: BytecodeStore, tmp_path: Path) -> None:
        source = b"X = 1\n"
        entry = put(store, source, checked_pyc(source, "mod.py"), tmp_path)
        target = tmp_path / "mod.pyc"
        assert store.link_into(digest(source), importlib.util.source_hash(source), str(target))
        assert target.samefile(entry)
        assert entry.stat().st_mode & 0o777 == 0o444

    def test_an_existing_pyc_is_replaced(self, store: BytecodeStore, tmp_path: Path) -> None:
        source = b"X = 1\n"
        entry = put(store, source, checked_pyc(source, "mod.py"), tmp_path)
        target = tmp_path / "mod.pyc"
        target.write_bytes(b"a stale pyc shipped in a wheel")
        assert store.link_into(digest(source), importlib.util.source_hash(source), str(target))
        assert target.samefile(entry)

    @pytest.mark.parametrize("damage", ["empty", "header only", "other source", "timestamp",
                                        "other magic"])
    def test_an_entry_that_does_not_match_its_source_is_never_used(
        self, store: BytecodeStore, tmp_path: Path, damage: str
    ) -> None:
        source = b"X = 1\n"
        good = checked_pyc(source, "mod.py")
        bad = {
            "empty": b"",
            "header only": good[:16],
            "other source": checked_pyc(b"X = 2\n", "mod.py"),
            "timestamp": good[:4] + bytes(4) + good[8:],
            "other magic": b"\x00\x00\r\n" + good[4:],
        }[damage]
        entry = Path(store.entry(digest(source)))
        entry.parent.mkdir(parents=True)
        entry.write_bytes(bad)
        target = tmp_path / "mod.pyc"
        assert not store.link_into(digest(source), importlib.util.source_hash(source),
                                   str(target))
        assert not target.exists()

    def test_a_copy_is_made_where_hard_links_cannot_be(
        self, store: BytecodeStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        source = b"X = 1\n"
        entry = put(store, source, checked_pyc(source, "mod.py"), tmp_path)

        def cross_device(src: object, dst: object) -> None:
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(os, "link", cross_device)
        target = tmp_path / "mod.pyc"
        assert store.link_into(digest(source), importlib.util.source_hash(source), str(target))
        assert not target.samefile(entry)
        assert target.read_bytes() == entry.read_bytes()

    def test_at_the_link_limit_a_copy_is_made(
        self, store: BytecodeStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        source = b""  # an empty __init__.py: the most linked entry of all
        entry = put(store, source, checked_pyc(source, "__init__.py"), tmp_path)
        real_link = os.link

        def full(src: str, dst: str) -> None:
            if src == str(entry):
                raise OSError(errno.EMLINK, "Too many links")
            real_link(src, dst)

        monkeypatch.setattr(os, "link", full)
        target = tmp_path / "__init__.pyc"
        assert store.link_into(digest(source), importlib.util.source_hash(source), str(target))
        assert target.read_bytes() == entry.read_bytes()


class TestPublication:
    def test_the_first_valid_entry_stays(self, store: BytecodeStore, tmp_path: Path) -> None:
        source = b"X = 1\n"
        first = put(store, source, checked_pyc(source, "a/mod.py"), tmp_path)
        inode = first.stat().st_ino
        put(store, source, checked_pyc(source, "b/mod.py"), tmp_path)
        assert first.stat().st_ino == inode
        assert not list(store.temporary.iterdir())

    def test_an_invalid_entry_is_replaced(self, store: BytecodeStore, tmp_path: Path) -> None:
        source = b"X = 1\n"
        entry = Path(store.entry(digest(source)))
        entry.parent.mkdir(parents=True)
        entry.write_bytes(b"")  # what a power cut after an unflushed rename leaves
        put(store, source, checked_pyc(source, "mod.py"), tmp_path)
        assert store.valid(str(entry), importlib.util.source_hash(source))

    def test_a_staged_entry_is_invisible_until_committed(
        self, store: BytecodeStore, tmp_path: Path
    ) -> None:
        source = b"X = 1\n"
        written = tmp_path / "written.pyc"
        written.write_bytes(checked_pyc(source, "mod.py"))
        staged = store.stage(str(written))  # a writer killed here leaves only this
        assert Path(staged).parent == store.temporary
        target = tmp_path / "mod.pyc"
        assert not store.link_into(digest(source), importlib.util.source_hash(source),
                                   str(target))

    def test_a_half_written_pyc_is_not_recorded_where_lookups_read(
        self, store: BytecodeStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A writer dying while it copies leaves nothing under the entry's name."""
        source = b"X = 1\n"
        written = tmp_path / "written.pyc"
        written.write_bytes(checked_pyc(source, "mod.py"))

        def no_links(src: object, dst: object) -> None:
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        def dies(src: str, dst: str) -> None:
            Path(dst).write_bytes(Path(src).read_bytes()[:10])
            raise KeyboardInterrupt

        monkeypatch.setattr(os, "link", no_links)
        monkeypatch.setattr(bytecode.shutil, "copyfile", dies)
        with pytest.raises(KeyboardInterrupt):
            store.stage(str(written))
        assert not Path(store.entry(digest(source))).exists()
        assert not list(store.temporary.iterdir())

    def test_concurrent_writers_leave_one_valid_entry(
        self, store: BytecodeStore, tmp_path: Path
    ) -> None:
        source = b"def f():\n    return 42\n"
        errors: list[BaseException] = []

        def write(index: int) -> None:
            try:
                for round_no in range(20):
                    pyc = tmp_path / f"w{index}-{round_no}.pyc"
                    pyc.write_bytes(checked_pyc(source, f"/env{index}/mod.py"))
                    store.commit(store.stage(str(pyc)), digest(source), pyc.read_bytes()[8:16])
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(index,)) for index in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        assert store.valid(store.entry(digest(source)), importlib.util.source_hash(source))
        assert not list(store.temporary.iterdir())

    def test_sweep_removes_only_old_temporary_files(self, store: BytecodeStore) -> None:
        store.temporary.mkdir(parents=True)
        old, new = store.temporary / "old.pyc", store.temporary / "new.pyc"
        old.write_bytes(b"x")
        new.write_bytes(b"x")
        an_hour_and_more = time.time() - bytecode.STALE_TEMPORARY - 60
        os.utime(old, (an_hour_and_more, an_hour_and_more))
        assert store.sweep() == 1
        assert new.exists() and not old.exists()


class TestCompileTree:
    def test_first_tree_compiles_a_second_identical_one_reuses(
        self, store: BytecodeStore, tmp_path: Path
    ) -> None:
        files = {"pkg/__init__.py": "", "pkg/mod.py": "X = 1\n", "top.py": "Y = 2\n"}
        first = write_package(tmp_path / "one", files)
        second = write_package(tmp_path / "two", files)
        done = compile_tree([first], store)
        assert (done.files, done.reused, done.compiled, done.recorded) == (3, 0, 3, 3)
        again = compile_tree([second], store)
        assert (again.files, again.reused, again.compiled) == (3, 3, 0)
        for name in files:
            assert pyc_of(second / name).samefile(pyc_of(first / name))
        assert "3 reused from the store, 0 compiled" in again.describe()

    def test_a_changed_source_gets_its_own_pyc(
        self, store: BytecodeStore, tmp_path: Path, fresh_import: Callable[[Path, str], object]
    ) -> None:
        old = write_package(tmp_path / "old", {"shipmod_a.py": "def value():\n    return 1\n"})
        new = write_package(tmp_path / "new", {"shipmod_a.py": "def value():\n    return 2\n"})
        compile_tree([old], store)
        result = compile_tree([new], store)
        assert (result.reused, result.compiled) == (0, 1)
        new_pyc = pyc_of(new / "shipmod_a.py")
        assert not new_pyc.samefile(pyc_of(old / "shipmod_a.py"))
        assert new_pyc.read_bytes()[8:16] == importlib.util.source_hash(
            (new / "shipmod_a.py").read_bytes())
        module = fresh_import(new, "shipmod_a")
        assert module.value() == 2  # type: ignore[attr-defined]
        assert module.__cached__ == str(new_pyc)  # type: ignore[attr-defined]

    def test_an_edit_with_the_same_size_and_mtime_is_not_served_stale_bytecode(
        self, store: BytecodeStore, tmp_path: Path, fresh_import: Callable[[Path, str], object]
    ) -> None:
        """What defeats timestamp pycs: the source changes, its mtime and size do not."""
        tree = write_package(tmp_path / "tree", {"shipmod_b.py": "VALUE = 1\n"})
        source = tree / "shipmod_b.py"
        compile_tree([tree], store)
        stat = source.stat()
        pyc = pyc_of(source)
        pyc.chmod(0o644)
        pyc.unlink()  # do not write through the hard link into the store
        source.write_text("VALUE = 2\n")
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        entry = Path(store.entry(digest(b"VALUE = 1\n")))
        os.link(entry, pyc)  # the old pyc, as a timestamp check would accept it
        assert fresh_import(tree, "shipmod_b").VALUE == 2  # type: ignore[attr-defined]
        result = compile_tree([tree], store)
        assert (result.reused, result.compiled) == (0, 1)
        assert not pyc.samefile(entry)

    def test_uncompilable_files_are_counted_and_get_no_pyc(
        self, store: BytecodeStore, tmp_path: Path
    ) -> None:
        tree = write_package(tmp_path / "tree", {"good.py": "X = 1\n", "bad.py": "def f(:\n"})
        result = compile_tree([tree], store)
        assert (result.files, result.compiled, len(result.failed)) == (2, 1, 1)
        assert "bad.py" in result.failed[0]
        assert not pyc_of(tree / "bad.py").exists()
        assert ", 1 not compilable" in result.describe()

    def test_files_in_pycache_directories_are_not_sources(
        self, store: BytecodeStore, tmp_path: Path
    ) -> None:
        tree = write_package(tmp_path / "tree", {"mod.py": "X = 1\n",
                                                 "__pycache__/junk.py": "X = 1\n"})
        assert compile_tree([tree], store).files == 1

    def test_an_unwritable_store_costs_time_not_the_build(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = BytecodeStore(tmp_path / "store")
        store.root.write_text("not a directory")
        tree = write_package(tmp_path / "tree", {"mod.py": "X = 1\n"})
        result = compile_tree([tree], store)
        assert (result.compiled, result.recorded) == (1, 0)
        assert result.store_errors
        assert store.valid(str(pyc_of(tree / "mod.py")),
                           importlib.util.source_hash(b"X = 1\n"))

    def test_main_prints_the_summary_and_writes_it(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        tree = write_package(tmp_path / "tree", {"mod.py": "X = 1\n", "bad.py": "(\n"})
        summary = tmp_path / "summary.json"
        assert bytecode.main(["--store", str(tmp_path / "store"), "--summary", str(summary),
                              str(tree)]) == 0
        out = capsys.readouterr().out
        assert "2 source files, 0 reused from the store, 1 compiled, 1 not compilable" in out
        assert "not compiled: " in out
        assert '"compiled": 1' in summary.read_text()

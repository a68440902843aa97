"""Bytecode for new environments, reused from a store shared by all of them.

Compiling ``.py`` files is nearly all the time it takes to build an environment whose
packages come from a warm installer cache (~7 s for flask, gunicorn and scikit-learn, whose
~2,600 files install in well under a second); instances run with
``PYTHONDONTWRITEBYTECODE=1``, so what is not compiled at build time is compiled again at
every start. Most files of a new environment were already compiled for an earlier one.

So every environment gets *checked-hash* pycs (PEP 552): the header holds the SipHash of the
source, which the interpreter compares with the source on every import, instead of the
source's mtime and size. Such a pyc depends only on the source bytes and the interpreter's
bytecode format, never on where or when the file was installed (uv's hard links or copies,
pip's copies), so it can be shared by content::

    <store>/<cache tag>-<magic number>/<sha256[:2]>/<sha256 of the source bytes>.pyc

For each source file of an environment, a store entry whose header matches the source
(magic number, checked-hash flags, source hash) is hard-linked (copied across filesystems,
or past the link limit) to ``__pycache__/<name>.<cache tag>.pyc``; the rest are compiled
(in parallel) from the very bytes that were hashed and then recorded in the store. The
header is checked on the linked file, after linking, so what is checked is what is used,
and the interpreter checks it again at import: a pyc never serves a different source.

The store needs no lock. Entries are immutable (mode 0444) and appear only by an atomic
link or rename of a complete file whose data was flushed to disk first (one ``os.sync`` per
batch): a writer killed half-way leaves a temporary file that no lookup reads, and a power
cut cannot leave an entry naming an empty file. Two builds recording one entry race
harmlessly, both files being valid for the source; an entry that fails its check is
replaced. Failing to read or write the store only costs time, never a build.

Only plain pycs (optimization level 0) are made, as instances run without ``-O``. This
module is run as a script by the environment's own interpreter (``python -I -S``, so
nothing of the environment runs), so it uses only the standard library of Python 3.7 (the
first with hash-based pycs) and later.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import importlib.util
import json
import marshal
import os
import shutil
import sys
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["SCRIPT", "BytecodeStore", "Summary", "checked_pyc", "compile_tree", "main", "pyc_path"]

SCRIPT = Path(__file__).resolve()
"""This file, which an environment's interpreter runs (``python -I -S SCRIPT ...``)."""

CHECKED_HASH = 0b11
"""PEP 552 flags: hash-based, and checked against the source at import."""
HEADER_SIZE = 16
STALE_TEMPORARY = 3600.0  # seconds after which a temporary file in the store is debris
_LINK_FALLBACK = frozenset({errno.EXDEV, errno.EMLINK, errno.EPERM, errno.ENOTSUP})
_MAX_LISTED_FAILURES = 5
_PARALLEL_FROM = 64  # fewer files compile faster than a process pool starts
_HEX = "0123456789abcdef"


def checked_pyc(source: bytes, filename: str) -> bytes:
    """A checked-hash pyc of ``source``; raises what ``compile`` raises for bad source."""
    with warnings.catch_warnings():
        # Compile-time warnings (invalid escapes...) are the package's; the import of a
        # pyc would never show them either.
        warnings.simplefilter("ignore")
        code = compile(source, filename, "exec", dont_inherit=True, optimize=0)
    return (
        importlib.util.MAGIC_NUMBER
        + CHECKED_HASH.to_bytes(4, "little")
        + importlib.util.source_hash(source)
        + marshal.dumps(code)
    )


def _read_header(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(HEADER_SIZE + 1)


def _place(source: str, target: str) -> None:
    """Make ``target`` a hard link to ``source``, or a copy where hard links cannot be
    (another filesystem, the link limit); ``target`` appears complete or not at all."""
    link = True
    try:
        os.link(source, target)
        return
    except FileExistsError:
        pass  # replaced below, atomically
    except OSError as exc:
        if exc.errno not in _LINK_FALLBACK:
            raise
        link = False
    directory, name = os.path.split(target)
    temporary = os.path.join(directory, f".{name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        if link:
            try:
                os.link(source, temporary)
            except OSError as exc:
                if exc.errno not in _LINK_FALLBACK:
                    raise
                link = False
        if not link:
            shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def pyc_path(source: str, cache_tag: str) -> str:
    """``importlib.util.cache_from_source(source, optimization="")`` without a
    ``sys.pycache_prefix``, for any cache tag."""
    directory, name = os.path.split(source)
    return os.path.join(directory, "__pycache__", f"{name[:-3]}.{cache_tag}.pyc")


class BytecodeStore:
    """Checked-hash pycs of one bytecode format, by sha256 of their source.

    ``cache_tag`` and ``magic`` default to the running interpreter's, as only its own
    pycs can be compiled and checked here.
    """

    def __init__(self, root: Path, cache_tag: str | None = None,
                 magic: bytes | None = None) -> None:
        tag = cache_tag or sys.implementation.cache_tag
        self.magic = magic or importlib.util.MAGIC_NUMBER
        self.root = Path(root)
        self.directory = self.root / f"{tag}-{self.magic.hex()}"
        self.temporary = self.directory / "tmp"
        self._prefix = str(self.directory)

    def entry(self, digest: str) -> str:
        """Where the pyc of the source whose sha256 (hex) is ``digest`` is kept."""
        if len(digest) != 64 or digest.strip(_HEX):
            raise ValueError(f"{digest!r} is not a sha256 hex digest")
        return os.path.join(self._prefix, digest[:2], digest + ".pyc")

    def valid(self, path: str, source_hash: bytes) -> bool:
        """Whether ``path`` is a checked-hash pyc of this store's bytecode format, with a
        body, for a source whose ``importlib.util.source_hash`` is ``source_hash``."""
        try:
            header = _read_header(path)
        except OSError:
            return False
        return (
            len(header) > HEADER_SIZE
            and header[:4] == self.magic
            and int.from_bytes(header[4:8], "little") == CHECKED_HASH
            and header[8:16] == source_hash
        )

    def link_into(self, digest: str, source_hash: bytes, target: str) -> bool:
        """Link the entry for ``digest`` to ``target`` if there is a valid one.

        The check runs on ``target`` once linked, so an entry replaced in between cannot
        slip through. Returns whether ``target`` is now a valid pyc from the store.
        """
        try:
            _place(self.entry(digest), target)
        except OSError:
            return False
        if self.valid(target, source_hash):
            return True
        with contextlib.suppress(OSError):
            os.unlink(target)
        return False

    def stage(self, pyc: str) -> str:
        """A temporary link to (or copy of) a freshly written ``pyc``, to ``commit`` once
        its data is on disk."""
        self.temporary.mkdir(parents=True, exist_ok=True)
        staged = str(self.temporary / f"{uuid.uuid4().hex}.pyc")
        _place(pyc, staged)
        os.chmod(staged, 0o444)
        return staged

    def commit(self, staged: str, digest: str, source_hash: bytes) -> None:
        """Publish a staged pyc as the entry for ``digest``, unless a valid one is there;
        the staged file is gone afterwards."""
        entry = self.entry(digest)
        try:
            os.makedirs(os.path.dirname(entry), exist_ok=True)
            try:
                os.link(staged, entry)
            except FileExistsError:
                if not self.valid(entry, source_hash):
                    os.replace(staged, entry)
            except OSError as exc:
                if exc.errno not in _LINK_FALLBACK:
                    raise
                os.replace(staged, entry)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(staged)

    def sweep(self, older_than: float = STALE_TEMPORARY) -> int:
        """Remove temporary files that writers killed half-way left; returns how many."""
        removed = 0
        deadline = time.time() - older_than
        try:
            leftovers = list(os.scandir(self.temporary))
        except OSError:
            return 0
        for leftover in leftovers:
            with contextlib.suppress(OSError):
                if leftover.stat(follow_symlinks=False).st_mtime < deadline:
                    os.unlink(leftover.path)
                    removed += 1
        return removed


@dataclass
class Summary:
    """What ``compile_tree`` did, as written to the build log and the marker file."""

    cache_tag: str
    files: int = 0
    reused: int = 0
    compiled: int = 0
    failed: list[str] = field(default_factory=list)
    recorded: int = 0
    store_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def describe(self) -> str:
        """One line for the build log."""
        line = (
            f"bytecode ({self.cache_tag}): {self.files} source files, {self.reused} reused "
            f"from the store, {self.compiled} compiled"
        )
        if self.failed:
            line += f", {len(self.failed)} not compilable"
        return line + f" in {self.seconds:.2f} s"


def _sources(directories: Sequence[Path]) -> Iterator[str]:
    for directory in directories:
        for root, dirnames, filenames in os.walk(directory):
            dirnames[:] = sorted(name for name in dirnames if name != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(".py"):
                    yield os.path.join(root, name)


def _compile_one(task: tuple[str, str]) -> tuple[str, str, str | None, str | None]:
    """Compile one source to its pyc; returns (source, pyc, sha256 of the bytes compiled,
    error), so that the entry it is recorded under matches what it was compiled from."""
    source, target = task
    try:
        with open(source, "rb") as handle:
            data = handle.read()
        pyc = checked_pyc(data, source)
    except Exception as exc:
        return source, target, None, f"{type(exc).__name__}: {exc}"
    directory, name = os.path.split(target)
    temporary = os.path.join(directory, f".{name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(pyc)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return source, target, hashlib.sha256(data).hexdigest(), None


def _jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def compile_tree(directories: Sequence[Path], store: BytecodeStore,
                 jobs: int | None = None) -> Summary:
    """Give every ``.py`` file under ``directories`` a valid checked-hash pyc of this
    interpreter: from the store where it has one, else compiled and recorded there."""
    started = time.monotonic()
    tag = sys.implementation.cache_tag
    summary = Summary(cache_tag=str(tag))
    if tag is None:  # an interpreter that caches no bytecode
        return summary
    store.sweep()
    missing: list[tuple[str, str]] = []
    made: set[str] = set()
    for source in _sources(directories):
        summary.files += 1
        target = pyc_path(source, tag)
        try:
            with open(source, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            summary.failed.append(f"{source}: {exc.strerror}")
            continue
        cache = os.path.dirname(target)
        if cache not in made:
            os.makedirs(cache, exist_ok=True)
            made.add(cache)
        digest = hashlib.sha256(data).hexdigest()
        if store.link_into(digest, importlib.util.source_hash(data), target):
            summary.reused += 1
        else:
            missing.append((source, target))

    compiled: list[tuple[str, str]] = []  # (pyc, digest)
    for source, target, digest, error in _compile_all(missing, jobs or _jobs()):
        if error is not None or digest is None:
            summary.failed.append(f"{source}: {error}")
        else:
            summary.compiled += 1
            compiled.append((target, digest))
    _record(compiled, store, summary)
    summary.seconds = time.monotonic() - started
    return summary


def _compile_all(tasks: list[tuple[str, str]], jobs: int,
                 ) -> Iterator[tuple[str, str, str | None, str | None]]:
    if jobs <= 1 or len(tasks) < _PARALLEL_FROM:
        for task in tasks:
            yield _compile_one(task)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(_compile_one, tasks, chunksize=8)


def _record(compiled: list[tuple[str, str]], store: BytecodeStore, summary: Summary) -> None:
    """Stage the new pycs, flush them to disk once, then publish them."""
    staged: list[tuple[str, str, bytes]] = []
    try:
        for pyc, digest in compiled:
            try:
                source_hash = _read_header(pyc)[8:16]
                staged.append((store.stage(pyc), digest, source_hash))
            except OSError as exc:
                summary.store_errors.append(f"{pyc}: {exc}")
        if staged:
            os.sync()
        for path, digest, source_hash in staged:
            try:
                store.commit(path, digest, source_hash)
                summary.recorded += 1
            except OSError as exc:
                summary.store_errors.append(f"{path}: {exc}")
    finally:
        for path, _, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(path)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -I -S bytecode.py --store DIR [--summary FILE] DIRECTORY...``"""
    parser = argparse.ArgumentParser(description="Compile bytecode, reusing a shared store.")
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--summary", type=Path, help="also write the summary here, as JSON")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("directories", type=Path, nargs="+")
    args = parser.parse_args(argv)
    summary = compile_tree(args.directories, BytecodeStore(args.store), args.jobs)
    print(summary.describe(), flush=True)
    for failure in summary.failed[:_MAX_LISTED_FAILURES]:
        print(f"  not compiled: {failure}", flush=True)
    if len(summary.failed) > _MAX_LISTED_FAILURES:
        print(f"  ... and {len(summary.failed) - _MAX_LISTED_FAILURES} more", flush=True)
    if summary.store_errors:
        print(f"could not record {len(summary.store_errors)} pycs in the store, first: "
              f"{summary.store_errors[0]}", flush=True)
    if args.summary is not None:
        report: dict[str, object] = asdict(summary)
        args.summary.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

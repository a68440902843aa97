"""Reading uploaded zip / tar.gz archives safely, and writing deterministic ones.

``read_archive`` never writes anything to disk: it returns ``{relative path: content}`` for
the regular files of the archive, after refusing every member that could escape a folder
or is not a plain file (links, devices, absolute paths, ``..``), and it stops reading as
soon as the decompressed bytes pass the limit, whatever sizes the archive declares.
"""

from __future__ import annotations

import gzip
import io
import lzma
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Mapping
from typing import IO

from shipyard.domain.validation import (
    folder_clash,
    path_problem,
    quoted,
    validate_file_tree,
    validate_relative_path,
)
from shipyard_sdk.errors import InvalidArchive, PayloadTooLarge

MAX_FILES = 2000
MAX_TOTAL_BYTES = 64 * 1024**2

_CHUNK_BYTES = 64 * 1024
# Every member counts here, folders and ignored files included: both readers keep one
# object per member in memory, so an archive of a million empty entries must stop early.
_ENTRIES_PER_FILE = 10
_TAR_HEADER_BYTES = tarfile.BLOCKSIZE
# A tar's GNU long-name and PAX headers hold names and a few attributes; tarfile reads one
# whole into memory (and parses a PAX one with a regex) before any member is seen, so
# each is bounded before it is read, and so is a chain of them before one member.
MAX_EXTENDED_HEADER_BYTES = 64 * 1024
_MAX_EXTENDED_HEADERS_IN_A_ROW = 4
_EXTENDED_HEADER_TYPES = frozenset({
    tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
})
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_GZIP_MAGIC = b"\x1f\x8b"
_IGNORED_FOLDERS = frozenset({"__pycache__", ".git", "__MACOSX"})
_IGNORED_NAMES = frozenset({".DS_Store"})
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_CORRUPT_ERRORS = (
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
)


def is_ignored(path: str) -> bool:
    """Whether an archive member is clutter left by tools (caches, ``.git``, macOS files)."""
    segments = path.split("/")
    if any(segment in _IGNORED_FOLDERS for segment in segments):
        return True
    return segments[-1] in _IGNORED_NAMES or segments[-1].endswith(".pyc")


def read_archive(
    data: bytes, *, max_files: int = MAX_FILES, max_total_bytes: int = MAX_TOTAL_BYTES
) -> dict[str, bytes]:
    """Return the regular files of a zip or (gzipped) tar archive, detected by content.

    If every file sits under one top-level folder, that folder is stripped. Raises
    ``InvalidArchive`` for unreadable or unsafe archives and ``PayloadTooLarge`` past
    ``max_files`` files or ``max_total_bytes`` decompressed bytes.
    """
    contents = _Contents(max_files, max_total_bytes)
    if bytes(data[:4]) in _ZIP_MAGICS:
        _read_zip(data, contents)
    else:
        _read_tar(data, contents)
    return contents.finish()


class _Contents:
    """The files collected from an archive, and the limits they must stay within."""

    def __init__(self, max_files: int, max_total_bytes: int) -> None:
        self.max_files = max_files
        self.max_total_bytes = max_total_bytes
        self.max_entries = max_files * _ENTRIES_PER_FILE
        self.files: dict[str, bytes] = {}
        self.folders: set[str] = set()
        self.entries = 0
        self.total_bytes = 0
        self.current = ""
        self.extended_headers_in_a_row = 0

    def member_path(self, raw_name: str, *, folder: bool) -> str | None:
        """The validated path of a member, or None when the member is to be skipped."""
        self.current = raw_name
        self.entries += 1
        if self.entries > self.max_entries:
            raise PayloadTooLarge(f"the archive has more than {self.max_entries} entries")
        name = raw_name.rstrip("/") if folder else raw_name
        # `tar -czf x.tgz .` names every member "./..."; that prefix is harmless.
        while name.startswith("./"):
            name = name[2:]
        if folder and name in ("", "."):
            return None
        problem = path_problem(name)
        if problem:
            raise InvalidArchive(f"archive member {quoted(raw_name)} is refused: {problem}")
        path = validate_relative_path(name)
        return None if is_ignored(path) else path

    def refuse(self, raw_name: str, what: str) -> None:
        raise InvalidArchive(
            f"archive member {quoted(raw_name)} is {what}; only regular files and folders "
            "are allowed"
        )

    def charge(self, size: int) -> None:
        self.total_bytes += size
        if self.total_bytes > self.max_total_bytes:
            raise PayloadTooLarge(
                f"the archive expands to more than {self.max_total_bytes} bytes "
                f"(reached in member {quoted(self.current)})"
            )

    def add(self, path: str, stream: IO[bytes]) -> None:
        if path in self.files:
            raise InvalidArchive(f"archive member {quoted(path)} appears more than once")
        if len(self.files) >= self.max_files:
            raise PayloadTooLarge(f"the archive has more than {self.max_files} files")
        chunks: list[bytes] = []
        while chunk := stream.read(_CHUNK_BYTES):
            self.charge(len(chunk))
            chunks.append(chunk)
        self.files[path] = b"".join(chunks)

    def finish(self) -> dict[str, bytes]:
        if not self.files:
            raise InvalidArchive("the archive contains no files")
        clash = folder_clash(self.files, self.folders)
        if clash:
            raise InvalidArchive(f"archive member {quoted(clash)} is both a file and a folder")
        return _strip_single_top_folder(self.files)


def _read_zip(data: bytes, contents: _Contents) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _CORRUPT_ERRORS as error:
        raise InvalidArchive(f"the zip archive is corrupt: {error}") from None
    with archive:
        members = archive.infolist()
        if len(members) > contents.max_entries:
            raise PayloadTooLarge(f"the archive has more than {contents.max_entries} entries")
        for member in members:
            mode = member.external_attr >> 16
            folder = member.is_dir() or stat.S_ISDIR(mode)
            # zipfile cuts a name at its first NUL; the name as stored is what is checked.
            path = contents.member_path(member.orig_filename, folder=folder)
            if path is None:
                continue
            what = _special_file_kind(mode)
            if what:
                contents.refuse(member.filename, what)
            if folder:
                contents.folders.add(path)
                continue
            if member.flag_bits & 0x1:
                raise InvalidArchive(
                    f"archive member {quoted(member.filename)} is encrypted; upload an "
                    "archive without a password"
                )
            try:
                with archive.open(member) as stream:
                    contents.add(path, stream)
            except _CORRUPT_ERRORS as error:
                raise InvalidArchive(
                    f"archive member {quoted(member.filename)} is corrupt: {error}"
                ) from None


def _special_file_kind(mode: int) -> str | None:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return None


def _read_tar(data: bytes, contents: _Contents) -> None:
    mode = "r:gz" if bytes(data[:2]) == _GZIP_MAGIC else "r:"
    try:
        archive = tarfile.open(  # noqa: SIM115
            fileobj=io.BytesIO(data), mode=mode, tarinfo=_bounded_tar_info(contents)
        )
    except _CORRUPT_ERRORS:
        raise InvalidArchive("the upload is not a zip or tar.gz archive") from None
    with archive:
        try:
            while (member := archive.next()) is not None:
                _read_tar_member(archive, member, contents)
        except _CORRUPT_ERRORS as error:
            where = f" (at member {quoted(contents.current)})" if contents.current else ""
            raise InvalidArchive(f"the tar archive is corrupt{where}: {error}") from None


def _bounded_tar_info(contents: _Contents) -> type[tarfile.TarInfo]:
    """A ``TarInfo`` that refuses an extended header (GNU long name, PAX) past
    ``MAX_EXTENDED_HEADER_BYTES``, or too many of them before one member, before tarfile
    reads it; the bytes they take count against the archive's limit."""

    class BoundedTarInfo(tarfile.TarInfo):
        # tarfile documents _proc_member as the hook for subclasses; it runs after the
        # header is parsed and before the header's data is read.
        def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
            if self.type in _EXTENDED_HEADER_TYPES:
                _check_extended_header(self, contents)
            else:
                contents.extended_headers_in_a_row = 0
            return super()._proc_member(archive)

    return BoundedTarInfo


def _check_extended_header(info: tarfile.TarInfo, contents: _Contents) -> None:
    kind = "a PAX" if info.type in (tarfile.XHDTYPE, tarfile.XGLTYPE,
                                    tarfile.SOLARIS_XHDTYPE) else "a GNU long-name"
    if info.size > MAX_EXTENDED_HEADER_BYTES:
        raise InvalidArchive(
            f"the tar archive has {kind} header of {info.size} bytes; at most "
            f"{MAX_EXTENDED_HEADER_BYTES} are allowed"
        )
    contents.extended_headers_in_a_row += 1
    if contents.extended_headers_in_a_row > _MAX_EXTENDED_HEADERS_IN_A_ROW:
        raise InvalidArchive(
            f"the tar archive has more than {_MAX_EXTENDED_HEADERS_IN_A_ROW} extended "
            "headers before one member"
        )
    contents.charge(_TAR_HEADER_BYTES + info.size)


def _read_tar_member(
    archive: tarfile.TarFile, member: tarfile.TarInfo, contents: _Contents
) -> None:
    path = contents.member_path(member.name, folder=member.isdir())
    kept = path is not None and member.isreg()
    if not kept:
        # Skipping a member still decompresses it, so it counts against the limit.
        contents.charge(member.size + _TAR_HEADER_BYTES)
    if path is None or member.isdir():
        if path is not None:
            contents.folders.add(path)
        return
    if member.issym():
        contents.refuse(member.name, "a symbolic link")
    if member.islnk():
        contents.refuse(member.name, "a hard link")
    if member.ischr() or member.isblk():
        contents.refuse(member.name, "a device")
    if member.isfifo():
        contents.refuse(member.name, "a FIFO")
    if not member.isreg():
        contents.refuse(member.name, f"of unsupported tar type {member.type!r}")
    stream = archive.extractfile(member)
    if stream is None:
        contents.refuse(member.name, "not readable")
        return
    with stream:
        contents.add(path, stream)


def _strip_single_top_folder(files: dict[str, bytes]) -> dict[str, bytes]:
    tops = {path.split("/", 1)[0] for path in files}
    if len(tops) != 1 or not all("/" in path for path in files):
        return files
    return {path.split("/", 1)[1]: content for path, content in files.items()}


def write_zip(files: Mapping[str, bytes]) -> bytes:
    """A zip of ``files``, byte-identical for the same input (sorted, fixed timestamps)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, content in validate_file_tree(files).items():
            info = zipfile.ZipInfo(path, date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so that the mode below is honoured
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def write_tar_gz(files: Mapping[str, bytes]) -> bytes:
    """A tar.gz of ``files``, byte-identical for the same input (sorted, zero timestamps)."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for path, content in validate_file_tree(files).items():
            info = tarfile.TarInfo(path)
            info.size = len(content)
            info.mode = 0o644
            info.mtime = 0
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()

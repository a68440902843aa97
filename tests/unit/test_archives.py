"""Reading uploads safely (malicious archives built in memory) and writing reproducible ones."""

from __future__ import annotations

import gzip
import io
import re
import stat
import struct
import tarfile
import warnings
import zipfile
from collections.abc import Iterable

import pytest

from shipyard.domain.archives import read_archive, write_tar_gz, write_zip
from shipyard_sdk.errors import InvalidArchive, InvalidInput, PayloadTooLarge

SERVICE = {"app.py": b"app = 1\n", "tests/test_app.py": b"def test(): pass\n"}


def zip_bytes(members: Iterable[tuple[str, bytes]], modes: dict[str, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicates some tests want
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, content in members:
                info = zipfile.ZipInfo(name)
                info.compress_type = zipfile.ZIP_DEFLATED
                mode = (modes or {}).get(name)
                if mode is not None:
                    info.create_system = 3
                    info.external_attr = mode << 16
                archive.writestr(info, content)
    return buffer.getvalue()


def tar_member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def tar_bytes(
    members: Iterable[tuple[tarfile.TarInfo | str, bytes]], *, compressed: bool = True
) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for member, content in members:
            info = tar_member(member) if isinstance(member, str) else member
            if info.isreg():
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
            else:
                archive.addfile(info)
    # No timestamp in the gzip header: the same members give the same bytes in every
    # process (each pytest-xdist worker collects these as parameters and must agree).
    return gzip.compress(buffer.getvalue(), mtime=0) if compressed else buffer.getvalue()


@pytest.mark.parametrize("writer", [write_zip, write_tar_gz])
def test_written_archives_read_back(writer) -> None:
    assert read_archive(writer(SERVICE)) == SERVICE


def test_plain_tar_is_read() -> None:
    assert read_archive(tar_bytes(SERVICE.items(), compressed=False)) == SERVICE


def test_format_comes_from_content_not_name() -> None:
    # Bytes are all read_archive sees; a zip and a tar.gz of the same files agree.
    assert read_archive(zip_bytes(SERVICE.items())) == read_archive(tar_bytes(SERVICE.items()))


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.py", "'..'"),
        ("a/../../evil.py", "'..'"),
        ("/etc/passwd", "absolute"),
        ("C:/Windows/evil.py", "drive letter"),
        ("C:\\Windows\\evil.py", "backslash"),
        ("sub\\evil.py", "backslash"),
        ("bad\nname.py", "control character"),
    ],
)
@pytest.mark.parametrize("builder", [zip_bytes, tar_bytes])
def test_escaping_paths_are_refused(builder, name: str, reason: str) -> None:
    data = builder([("app.py", b"ok"), (name, b"evil")])
    with pytest.raises(InvalidArchive) as caught:
        read_archive(data)
    assert repr(name) in caught.value.message
    assert reason in caught.value.message


@pytest.mark.parametrize(
    ("member", "what"),
    [
        (tar_member("link.py", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link"),
        (tar_member("inside.py", tarfile.SYMTYPE, "app.py"), "symbolic link"),
        (tar_member("hard.py", tarfile.LNKTYPE, "app.py"), "hard link"),
        (tar_member("dev", tarfile.CHRTYPE), "device"),
        (tar_member("blk", tarfile.BLKTYPE), "device"),
        (tar_member("pipe", tarfile.FIFOTYPE), "FIFO"),
    ],
)
def test_tar_links_and_special_files_are_refused(member: tarfile.TarInfo, what: str) -> None:
    data = tar_bytes([("app.py", b"ok"), (member, b"")])
    with pytest.raises(InvalidArchive) as caught:
        read_archive(data)
    assert repr(member.name) in caught.value.message
    assert what in caught.value.message


@pytest.mark.parametrize(
    ("mode", "what"),
    [
        (stat.S_IFLNK | 0o777, "symbolic link"),
        (stat.S_IFIFO | 0o644, "FIFO"),
        (stat.S_IFCHR | 0o644, "device"),
    ],
)
def test_zip_symlinks_and_special_files_are_refused(mode: int, what: str) -> None:
    data = zip_bytes([("app.py", b"ok"), ("link.py", b"/etc/passwd")], {"link.py": mode})
    with pytest.raises(InvalidArchive, match=what):
        read_archive(data)


def test_zip_mode_bits_of_regular_files_are_fine() -> None:
    data = zip_bytes([("run.sh", b"#!/bin/sh\n")], {"run.sh": stat.S_IFREG | 0o755})
    assert read_archive(data) == {"run.sh": b"#!/bin/sh\n"}


@pytest.mark.parametrize("builder", [zip_bytes, tar_bytes])
def test_duplicate_paths_are_refused(builder) -> None:
    data = builder([("app.py", b"one"), ("lib.py", b""), ("app.py", b"two")])
    with pytest.raises(InvalidArchive, match=re.escape("'app.py' appears more than once")):
        read_archive(data)


def test_paths_that_normalize_alike_are_duplicates() -> None:
    data = zip_bytes([("cafe\u0301.py", b"1"), ("caf\u00e9.py", b"2")])
    with pytest.raises(InvalidArchive, match="more than once"):
        read_archive(data)


def test_a_path_that_is_a_file_and_a_folder_is_refused() -> None:
    data = tar_bytes([("lib", b"file"), ("lib/mod.py", b"module")])
    with pytest.raises(InvalidArchive, match="'lib' is both a file and a folder"):
        read_archive(data)


@pytest.mark.parametrize("builder", [zip_bytes, tar_bytes])
def test_a_zip_bomb_stops_at_the_limit(builder) -> None:
    zeros = b"\0" * (8 * 1024 * 1024)
    data = builder([("app.py", b"ok"), ("bomb.bin", zeros)])
    assert len(data) < 100_000
    with pytest.raises(PayloadTooLarge, match="more than 1048576 bytes"):
        read_archive(data, max_total_bytes=1024 * 1024)


def test_the_limit_counts_all_files_together() -> None:
    data = zip_bytes((f"part{number}.bin", b"x" * 300_000) for number in range(4))
    with pytest.raises(PayloadTooLarge):
        read_archive(data, max_total_bytes=1_000_000)
    assert len(read_archive(data, max_total_bytes=1_200_000)) == 4


def test_declared_zip_sizes_are_not_trusted() -> None:
    content = b"\0" * (4 * 1024 * 1024)
    data = bytearray(zip_bytes([("bomb.bin", content)]))
    # Claim 10 bytes in both the local header and the central directory.
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, 10)
    struct.pack_into("<I", data, central + 24, 10)
    with pytest.raises((InvalidArchive, PayloadTooLarge)):
        read_archive(bytes(data), max_total_bytes=1024 * 1024)


def test_skipped_tar_members_still_count_against_the_limit() -> None:
    data = tar_bytes([("app.py", b"ok"), (".git/objects/big", b"\0" * (2 * 1024 * 1024))])
    with pytest.raises(PayloadTooLarge):
        read_archive(data, max_total_bytes=1024 * 1024)


def test_too_many_files() -> None:
    data = zip_bytes((f"f{number}.py", b"") for number in range(5))
    assert len(read_archive(data, max_files=5)) == 5
    with pytest.raises(PayloadTooLarge, match="more than 4 files"):
        read_archive(data, max_files=4)


def test_too_many_entries_of_any_kind() -> None:
    folders = [(tar_member(f"d{number}", tarfile.DIRTYPE), b"") for number in range(30)]
    data = tar_bytes([("app.py", b""), *folders])
    with pytest.raises(PayloadTooLarge, match="entries"):
        read_archive(data, max_files=2)


def test_a_single_top_folder_is_stripped() -> None:
    nested = [(f"my-service/{path}", content) for path, content in SERVICE.items()]
    assert read_archive(zip_bytes([("my-service/", b""), *nested])) == SERVICE
    folder = tar_member("my-service", tarfile.DIRTYPE)
    assert read_archive(tar_bytes([(folder, b""), *nested])) == SERVICE


def test_two_top_folders_are_kept() -> None:
    data = zip_bytes([("a/x.py", b"1"), ("b/y.py", b"2")])
    assert read_archive(data) == {"a/x.py": b"1", "b/y.py": b"2"}


def test_a_top_level_file_keeps_the_folder() -> None:
    data = zip_bytes([("app.py", b"1"), ("pkg/mod.py", b"2")])
    assert read_archive(data) == {"app.py": b"1", "pkg/mod.py": b"2"}


def test_clutter_is_ignored() -> None:
    data = zip_bytes(
        [
            ("svc/app.py", b"app"),
            ("svc/__pycache__/app.cpython-311.pyc", b"\0"),
            ("svc/lib/old.pyc", b"\0"),
            ("svc/.DS_Store", b"\0"),
            ("__MACOSX/svc/._app.py", b"\0"),
            ("svc/.git/HEAD", b"ref: refs/heads/main\n"),
            ("svc/.git/objects/ab/cdef", b"\0"),
        ]
    )
    assert read_archive(data) == {"app.py": b"app"}


def test_tar_dot_prefix_and_folders_are_accepted() -> None:
    data = tar_bytes(
        [
            (tar_member(".", tarfile.DIRTYPE), b""),
            (tar_member("./pkg", tarfile.DIRTYPE), b""),
            ("./app.py", b"app"),
            ("./pkg/mod.py", b"mod"),
        ]
    )
    assert read_archive(data) == {"app.py": b"app", "pkg/mod.py": b"mod"}


@pytest.mark.parametrize(
    "data",
    [
        zip_bytes([]),
        tar_bytes([]),
        tar_bytes([(tar_member("empty", tarfile.DIRTYPE), b"")]),
        zip_bytes([("__pycache__/x.pyc", b"\0"), (".DS_Store", b"")]),
    ],
    ids=["empty zip", "empty tar.gz", "tar.gz of a folder", "zip of clutter"],
)
def test_an_archive_without_files_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidArchive, match="contains no files"):
        read_archive(data)


@pytest.mark.parametrize(
    "data", [b"", b"print('hello')\n" * 100, b"\x00" * 10, b"\x7fELF" + b"\x01" * 600]
)
def test_not_an_archive(data: bytes) -> None:
    with pytest.raises(InvalidArchive, match=re.escape("not a zip or tar.gz archive")):
        read_archive(data)


def test_corrupt_archives_are_refused() -> None:
    zipped = zip_bytes([("app.py", b"print('hello world')\n" * 200)])
    with pytest.raises(InvalidArchive, match="zip archive is corrupt"):
        read_archive(zipped[: len(zipped) // 2])
    gzipped = tar_bytes([("app.py", bytes(range(256)) * 400)])
    with pytest.raises(InvalidArchive):
        read_archive(gzipped[: len(gzipped) // 2])
    flipped = bytearray(zipped)
    flipped[zipped.index(b"app.py") + 10] ^= 0xFF  # inside the compressed data
    with pytest.raises(InvalidArchive, match=re.escape("'app.py' is corrupt")):
        read_archive(bytes(flipped))


def test_encrypted_zip_members_are_refused() -> None:
    data = bytearray(zip_bytes([("app.py", b"secret")]))
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        position = data.index(signature) + offset
        struct.pack_into("<H", data, position, struct.unpack_from("<H", data, position)[0] | 1)
    with pytest.raises(InvalidArchive, match="encrypted"):
        read_archive(bytes(data))


def test_write_zip_is_deterministic() -> None:
    reordered = dict(reversed(list(SERVICE.items())))
    assert write_zip(SERVICE) == write_zip(reordered)
    with zipfile.ZipFile(io.BytesIO(write_zip(SERVICE))) as archive:
        assert archive.namelist() == sorted(SERVICE)
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_write_tar_gz_is_deterministic() -> None:
    reordered = dict(reversed(list(SERVICE.items())))
    data = write_tar_gz(SERVICE)
    assert data == write_tar_gz(reordered)
    assert gzip.decompress(data)  # a valid gzip stream
    assert data[4:8] == b"\0\0\0\0"  # no timestamp in the gzip header
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        members = archive.getmembers()
    assert [member.name for member in members] == sorted(SERVICE)
    assert {(member.mtime, member.mode, member.uid) for member in members} == {(0, 0o644, 0)}


@pytest.mark.parametrize("writer", [write_zip, write_tar_gz])
def test_writers_refuse_unsafe_paths(writer) -> None:
    with pytest.raises(InvalidInput, match=re.escape("'..'")):
        writer({"../evil.py": b""})


def _extended_header_tar(kind: bytes, size: int) -> bytes:
    """A tar whose first header announces ``size`` bytes of GNU long name or PAX data
    (all zeros, compressing to almost nothing), followed by a regular file."""
    header = tarfile.TarInfo("././@LongLink" if kind == tarfile.GNUTYPE_LONGNAME else "pax")
    header.type = kind
    header.size = size
    blocks = -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed:
        compressed.write(header.tobuf(format=tarfile.GNU_FORMAT))
        for _ in range(blocks // (1024 * 1024)):
            compressed.write(bytes(1024 * 1024))
        compressed.write(bytes(blocks % (1024 * 1024)))
        member = tarfile.TarInfo("app.py")
        member.size = 8
        compressed.write(member.tobuf(format=tarfile.GNU_FORMAT) + b"app = 1\n".ljust(512, b"\0"))
        compressed.write(bytes(1024))
    return buffer.getvalue()


@pytest.mark.parametrize(("kind", "what"), [
    (tarfile.GNUTYPE_LONGNAME, "GNU long-name"),
    (tarfile.XHDTYPE, "PAX"),
])
def test_huge_extended_tar_headers_are_refused_before_they_are_read(kind: bytes, what: str
                                                                     ) -> None:
    data = _extended_header_tar(kind, 128 * 1024 * 1024)
    assert len(data) < 200_000
    with pytest.raises(InvalidArchive, match=f"{what} header of 134217728 bytes"):
        read_archive(data)


def test_long_names_within_the_header_bound_are_read() -> None:
    name = "/".join(["folder"] * 40) + "/app.py"
    info = tarfile.TarInfo(name)
    data = tar_bytes([(info, b"app = 1\n"), ("main.py", b"")])
    assert read_archive(data) == {name: b"app = 1\n", "main.py": b""}


def test_a_chain_of_extended_headers_is_refused() -> None:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed:
        for _ in range(2000):
            header = tarfile.TarInfo("pax")
            header.type = tarfile.XHDTYPE
            record = b"13 comment=x\n"
            header.size = len(record)
            compressed.write(header.tobuf(format=tarfile.GNU_FORMAT) + record.ljust(512, b"\0"))
        compressed.write(bytes(1024))
    with pytest.raises(InvalidArchive, match="extended headers before one member"):
        read_archive(buffer.getvalue())


def test_a_zip_member_name_with_a_nul_is_refused_not_cut() -> None:
    # zipfile will not write such a name, so it is patched into the bytes.
    data = zip_bytes([("a@b.py", b"x = 1\n"), ("app.py", b"app = 1\n")])
    data = data.replace(b"a@b.py", b"a\x00b.py")
    with pytest.raises(InvalidArchive, match="control character"):
        read_archive(data)

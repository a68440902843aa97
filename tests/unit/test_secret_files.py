"""Secrets given as files: the folders the docker runner mounts them from, and the runtime
that makes them environment variables before the service's code is imported."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from shipyard_runners.containers.dockerfiles import SERVICE_UID
from shipyard_runners.containers.secret_folders import SECRETS_DIR, SecretFolders
from shipyard_sdk.errors import RunnerError
from shipyard_sdk.runtime.secret_files import SECRETS_DIR_VAR, export_secret_files

OWNER = "0123456789abcdef0123456789abcdef"


def test_a_folder_holds_one_read_only_file_per_secret_behind_a_root_of_ours(
    tmp_path: Path,
) -> None:
    folders = SecretFolders(tmp_path, "test-one")
    mount = folders.make(OWNER, {"API_KEY": "k-123", "DB_PASSWORD": "p\nw"})
    assert mount is not None
    assert mount["Target"] == SECRETS_DIR and mount["ReadOnly"] is True
    folder = Path(mount["Source"])
    assert folder == folders.root / OWNER
    assert stat.S_IMODE(os.stat(folders.root).st_mode) == 0o700
    assert (folder / "API_KEY").read_text() == "k-123"
    assert (folder / "DB_PASSWORD").read_text() == "p\nw"
    as_root = os.geteuid() == 0
    for path in (folder / "API_KEY", folder / "DB_PASSWORD"):
        found = os.stat(path)
        assert stat.S_IMODE(found.st_mode) == (0o400 if as_root else 0o444)
        if as_root:
            assert found.st_uid == SERVICE_UID  # the image's service user reads it
    assert stat.S_IMODE(os.stat(folder).st_mode) == (0o500 if as_root else 0o555)
    folders.remove(OWNER)
    assert not folder.exists()


def test_no_secret_no_folder(tmp_path: Path) -> None:
    folders = SecretFolders(tmp_path, "test-two")
    assert folders.make(OWNER, {}) is None
    assert not folders.root.exists()


def test_a_root_someone_else_could_reach_is_refused(tmp_path: Path) -> None:
    folders = SecretFolders(tmp_path, "test-three")
    folders.root.mkdir(mode=0o755)
    os.chmod(folders.root, 0o755)
    with pytest.raises(RunnerError, match="not a folder of this user's alone"):
        folders.make(OWNER, {"API_KEY": "k"})
    folders.root.rmdir()
    folders.root.symlink_to(tmp_path)
    with pytest.raises(RunnerError, match="not a folder of this user's alone"):
        folders.make(OWNER, {"API_KEY": "k"})


def test_a_missing_memory_folder_is_named(tmp_path: Path) -> None:
    folders = SecretFolders(tmp_path / "no-shm", "test-four")
    with pytest.raises(RunnerError, match=r"no-shm .*does not exist"):
        folders.make(OWNER, {"API_KEY": "k"})


def test_folders_of_containers_that_are_gone_are_discarded(tmp_path: Path) -> None:
    folders = SecretFolders(tmp_path, "test-five")
    other = "f" * 32
    folders.make(OWNER, {"A": "1"})
    folders.make(other, {"A": "2"})
    folders.make("check-" + "a" * 32, {"A": "3"})
    assert folders.discard_except([OWNER]) == 2
    assert sorted(path.name for path in folders.root.iterdir()) == [OWNER]
    folders.purge()
    assert not folders.root.exists()


def test_bad_owners_and_names_are_refused(tmp_path: Path) -> None:
    folders = SecretFolders(tmp_path, "test-six")
    with pytest.raises(RunnerError, match="cannot own a secret folder"):
        folders.make("../escape", {"A": "1"})
    with pytest.raises(RunnerError, match="cannot be the name of a secret file"):
        folders.make(OWNER, {"../A": "1"})
    assert not (folders.root / OWNER).exists()  # nothing half-written stays


def test_the_runtime_sets_each_secret_file_as_a_variable(tmp_path: Path) -> None:
    (tmp_path / "API_KEY").write_text("k-123")
    (tmp_path / "DB_PASSWORD").write_text("p\nw")
    (tmp_path / "not a name").write_text("ignored")
    (tmp_path / "sub").mkdir()
    environ = {SECRETS_DIR_VAR: str(tmp_path), "API_KEY": "old"}
    assert export_secret_files(environ) == ["API_KEY", "DB_PASSWORD"]
    assert environ["API_KEY"] == "k-123" and environ["DB_PASSWORD"] == "p\nw"
    assert "not a name" not in environ and "sub" not in environ


def test_without_the_variable_the_runtime_sets_nothing() -> None:
    environ = {"PATH": "/bin"}
    assert export_secret_files(environ) == []
    assert environ == {"PATH": "/bin"}


def test_a_named_folder_that_cannot_be_read_stops_the_service_saying_why(
    tmp_path: Path,
) -> None:
    with pytest.raises(RuntimeError, match=r"cannot read the service's secrets in .*gone"):
        export_secret_files({SECRETS_DIR_VAR: str(tmp_path / "gone")})

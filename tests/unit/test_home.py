"""The home folder and the database are readable by their owner only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from flask import Flask

from shipyard import Settings
from shipyard.home import prepare_home


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.sqlite_only("the mode of SQLite's database file and WAL")
def test_a_control_plane_keeps_its_home_and_database_private(app: Flask, settings: Settings
                                                             ) -> None:
    assert mode_of(settings.home) == 0o700
    database = settings.home / "shipyard.db"
    assert mode_of(database) == 0o600
    wal = settings.home / "shipyard.db-wal"
    if wal.exists():
        assert mode_of(wal) == 0o600


def test_an_existing_shipyard_home_is_tightened(tmp_path: Path) -> None:
    home = tmp_path / "old-home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    (home / "shipyard.db").write_bytes(b"")
    prepare_home(home)
    assert mode_of(home) == 0o700


def test_another_folder_named_as_home_is_left_as_it_is(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    (shared / "someone-elses-file").write_text("x")
    prepare_home(shared)
    assert mode_of(shared) == 0o755


def test_parents_are_made_for_a_new_home(tmp_path: Path) -> None:
    home = tmp_path / "a" / "b" / "home"
    prepare_home(home)
    assert home.is_dir() and mode_of(home) == 0o700

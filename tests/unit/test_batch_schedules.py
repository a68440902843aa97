"""Batch schedules: the cron expressions they take, the sources the administrator allows,
and the runs the supervisor's timetable starts when they are due."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask

from shipyard.domain.batch_schedules import next_run
from shipyard.domain.batch_sources import BatchSources
from shipyard.errors import InvalidInput, NotFound
from shipyard.settings import Settings
from shipyard.supervisor.batch_timetable import BatchTimetable
from tests.credentials import SigningClient


def test_next_runs_of_cron_expressions_in_utc() -> None:
    at = datetime(2026, 12, 6, 2, 30, tzinfo=UTC)
    assert next_run("0 3 * * *", at) == datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    assert next_run("*/15 * * * *", at) == datetime(2026, 12, 6, 2, 45, tzinfo=UTC)
    assert next_run("@daily", at) == datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
    assert next_run("0 0 * * mon", at) == datetime(2026, 12, 7, 0, 0, tzinfo=UTC)


@pytest.fixture
def allowed(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


def test_a_path_must_be_inside_an_allowed_folder_once_resolved(allowed: Path,
                                                              tmp_path: Path) -> None:
    sources = BatchSources([str(allowed), "https://data.example/exports"])
    assert sources.check(str(allowed / "daily.csv")).location == str(allowed / "daily.csv")
    assert sources.check(str(allowed / "sub" / ".." / "a.csv")).location == str(
        allowed / "a.csv")
    outside = tmp_path / "secret.csv"
    outside.write_text("a\n1\n")
    for refused in (str(outside), str(allowed / ".." / "secret.csv"), str(allowed),
                    "exports/daily.csv", "/etc/passwd"):
        with pytest.raises(InvalidInput, match=r"not in a folder the administrator allows|"
                                               r"must be an absolute path"):
            sources.check(refused)
    # A link inside the folder that leads out of it is followed, then refused.
    os.symlink(outside, allowed / "link.csv")
    with pytest.raises(InvalidInput, match="not in a folder the administrator allows"):
        sources.check(str(allowed / "link.csv"))


def test_a_url_must_start_with_an_allowed_prefix_on_whole_segments(allowed: Path) -> None:
    sources = BatchSources([str(allowed), "https://data.example/exports"])
    assert sources.check("https://data.example/exports/a.csv").kind == "url"
    for refused, why in (
        ("https://data.example/exports-old/a.csv", "not under a URL"),
        ("http://data.example/exports/a.csv", "not under a URL"),
        ("https://other.example/exports/a.csv", "not under a URL"),
        ("https://data.example/exports/../admin/a.csv", "'..' segment"),
        ("https://user:pw@data.example/exports/a.csv", "must not carry credentials"),
        ("ftp://data.example/exports/a.csv", "must be an absolute path"),
    ):
        with pytest.raises(InvalidInput, match=why):
            sources.check(refused)


def test_nothing_is_allowed_by_default_and_entries_are_checked(allowed: Path) -> None:
    with pytest.raises(InvalidInput, match="it allows none"):
        BatchSources([]).check(str(allowed / "a.csv"))
    settings = Settings.resolve({}, {"SHIPYARD_BATCH_SOURCES": f"{allowed}, https://x.example/a/"})
    assert settings.batch_sources == (str(allowed), "https://x.example/a/")
    assert Settings.from_json(settings.to_json()).batch_sources == settings.batch_sources
    with pytest.raises(InvalidInput, match="absolute folder or an http"):
        Settings.resolve({}, {"SHIPYARD_BATCH_SOURCES": "relative/folder"})
    with pytest.raises(InvalidInput, match="must not carry credentials"):
        BatchSources(["https://u:p@x.example/a/"])


def test_a_source_is_read_streamed_and_a_missing_file_is_named(allowed: Path) -> None:
    sources = BatchSources([str(allowed)])
    (allowed / "a.csv").write_text("x\n1\n")
    with sources.open(sources.check(str(allowed / "a.csv"))) as (stream, media):
        assert stream.read() == b"x\n1\n" and media is None
    with pytest.raises(NotFound, match="no file at"), sources.open(
            sources.check(str(allowed / "b.csv"))):
        pass


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    exports = tmp_path / "exports"
    exports.mkdir()
    return Settings(home=tmp_path / "home", port=0, batch_sources=(str(exports),),
                    database_url=database_url)


def test_schedules_through_the_api_and_the_runs_the_timetable_starts(
    app: Flask, client: SigningClient, bob: SigningClient, settings: Settings
) -> None:
    assert client.post("/api/v1/services", json={"name": "scorer"}).status_code == 201
    source = str(Path(settings.batch_sources[0]) / "daily.csv")
    path = "/api/v1/services/scorer/batch-schedules"
    for body, message in (
        ({"cron": "61 * * * *", "source": source}, "cron '61 * * * *' does not parse"),
        ({"cron": "* * * * * *", "source": source}, "give five fields"),
        ({"cron": "@daily", "source": "/etc/passwd"}, "not in a folder the administrator"),
        ({"cron": "@daily", "source": source, "chunk_size": 0}, "chunk_size must be"),
        ({"cron": "@daily", "source": source, "colour": "red"}, "unknown fields ['colour']"),
    ):
        refused = client.post(path, json=body)
        assert refused.status_code == 400, body
        assert message in refused.get_json()["error"]["message"]
    assert bob.post(path, json={"cron": "@daily", "source": source}).status_code == 403

    made = client.post(path, json={"cron": "0 3 * * *", "source": source,
                                   "passthrough": ["id"]})
    assert made.status_code == 201, made.get_json()
    schedule = made.get_json()
    assert schedule["options"] == {"passthrough": ["id"]}
    assert datetime.fromisoformat(schedule["next_run_at"]).time().isoformat() == "03:00:00"
    assert [s["id"] for s in client.get(path).get_json()["schedules"]] == [schedule["id"]]
    assert bob.get(f"/api/v1/batch-schedules/{schedule['id']}").status_code == 404

    # Due now: each run starts, and says why it made no job.
    plane = app.extensions["shipyard"]
    for written, why in ((False, "no file at"), (True, "serves no generation")):
        if written:
            Path(source).write_text("id,a\n1,2\n")
        ran = client.post(f"/api/v1/batch-schedules/{schedule['id']}/run").get_json()
        now = datetime.fromisoformat(ran["next_run_at"])
        timetable = BatchTimetable(plane.store, plane.batch_jobs, plane.batch_schedules.sources)
        try:
            assert timetable.run(now) == [schedule["id"]]
            assert timetable.run(now) == []  # its next run is set already
        finally:
            timetable.shutdown()
        after = client.get(f"/api/v1/batch-schedules/{schedule['id']}").get_json()
        assert after["last_run_at"] == now.isoformat()
        assert after["last_job_id"] is None
        assert why in after["last_error"]
        assert datetime.fromisoformat(after["next_run_at"]) == next_run("0 3 * * *", now)
    assert list((settings.home / "batch").iterdir()) == []  # no folder left by a run

    assert client.delete(f"/api/v1/batch-schedules/{schedule['id']}").status_code == 204
    assert client.get(path).get_json()["schedules"] == []

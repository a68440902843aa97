"""The service-side runtime: the health middleware, the app loader and the import check."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard_sdk.runtime import check
from shipyard_sdk.runtime.health import HEALTH_PATH, HealthCheck
from shipyard_sdk.runtime.loader import load_app


def user_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"user saw {environ['PATH_INFO']}".encode()]


def call(app: Any, path: str, method: str = "GET") -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": method}, start_response))
    return seen["status"], seen["headers"], body


class TestHealthCheck:
    def test_answers_the_health_path_itself(self) -> None:
        status, headers, body = call(HealthCheck(user_app, "v3"), HEALTH_PATH)
        assert status == "200 OK"
        assert headers["Content-Type"] == "application/json"
        assert int(headers["Content-Length"]) == len(body)
        assert json.loads(body) == {"status": "ok", "generation": "v3"}

    def test_passes_everything_else_to_the_app(self) -> None:
        for path in ["/", "/_shipyard/health/", "/_shipyard", "/predict"]:
            assert call(HealthCheck(user_app, "v1"), path)[2] == f"user saw {path}".encode()

    def test_head_and_other_methods(self) -> None:
        assert call(HealthCheck(user_app, "v1"), HEALTH_PATH, "HEAD")[::2] == ("200 OK", b"")
        status, headers, _ = call(HealthCheck(user_app, "v1"), HEALTH_PATH, "POST")
        assert status.startswith("405")
        assert headers["Allow"] == "GET, HEAD"


@pytest.fixture
def service_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working directory holding a service module with a unique name."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    name = f"svc_{tmp_path.name.replace('-', '_')}"
    monkeypatch.setenv("SHIPYARD_APP_MODULE", name)
    yield tmp_path / f"{name}.py"
    sys.modules.pop(name, None)


class TestLoader:
    def test_imports_the_app_from_the_working_directory(self, service_dir: Path) -> None:
        service_dir.write_text("def app(environ, start_response):\n    return []\n")
        assert load_app().__name__ == "app"

    def test_names_the_object_from_the_environment(
        self, service_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        service_dir.write_text("def application(environ, start_response):\n    return []\n")
        monkeypatch.setenv("SHIPYARD_APP_OBJECT", "application")
        assert load_app().__name__ == "application"

    def test_a_missing_or_uncallable_app(self, service_dir: Path) -> None:
        service_dir.write_text("application = None\n")
        with pytest.raises(LookupError, match="has no attribute 'app'"):
            load_app()
        with pytest.raises(TypeError, match="not a WSGI app"):
            load_app({"SHIPYARD_APP_MODULE": service_dir.stem,
                      "SHIPYARD_APP_OBJECT": "application"})


class TestCheck:
    def test_exit_code_zero_when_the_app_imports(
        self, service_dir: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        service_dir.write_text("def app(environ, start_response):\n    return []\n")
        assert check.main([]) == 0
        assert "imports" in capsys.readouterr().out

    def test_with_routes_it_lists_them_as_the_route_listing_does(
        self, service_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        service_dir.write_text(
            "from flask import Flask\napp = Flask(__name__)\n\n"
            "@app.get('/hello')\ndef hello():\n    \"Say hello.\"\n    return 'hi'\n"
        )
        output = tmp_path / "routes.json"
        assert check.main(["--routes", str(output)]) == 0
        assert "imports" in capsys.readouterr().out
        listed = json.loads(output.read_text())
        assert listed["problem"] == ""
        assert [(r["rule"], r["method"], r["docstring"]) for r in listed["routes"]] == [
            ("/hello", "GET", "Say hello.")]
        assert check.main(["--routes"]) == 2
        assert check.main(["--other", str(output)]) == 2

    def test_traceback_on_stderr_when_it_does_not(
        self, service_dir: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        service_dir.write_text("import no_such_module_for_shipyard\n")
        assert check.main([]) == 1
        err = capsys.readouterr().err
        assert "Traceback (most recent call last)" in err
        assert "ModuleNotFoundError: No module named 'no_such_module_for_shipyard'" in err

    def test_an_exit_at_import_is_a_failure_too(
        self, service_dir: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        service_dir.write_text("raise SystemExit(0)\n")
        assert check.main([]) == 1

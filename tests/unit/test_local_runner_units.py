"""The local runner's pure parts: environment keys, redaction, handles, log tails, the
bytecode step."""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path

import pytest

from shipyard.settings import Settings
from shipyard.supervisor.runner_choice import runner_named
from shipyard_runners import (
    Artifact,
    InstanceHandle,
    LocalRunner,
    Runner,
    State,
    venvs,
)
from shipyard_runners import local as local_module
from shipyard_runners.commands import describe, redact_args, redact_env
from shipyard_runners.processes import tail
from shipyard_runners.service_code import memory_limit
from shipyard_sdk.errors import BuildFailed, InvalidPackageList, RunnerError


class TestEnvironmentKeys:
    def test_order_case_spelling_and_duplicates_do_not_change_the_key(self) -> None:
        one = venvs.env_key("3.11", ["numpy>=1.26", "Scikit_Learn >= 1.3, <2", "pandas"])
        other = venvs.env_key("3.11", ["pandas", "scikit-learn<2,>=1.3", "NumPy>=1.26", "pandas"])
        assert one == other

    def test_normalized_spelling(self) -> None:
        assert venvs.normalize_packages(
            ["Scikit_Learn >= 1.3, <2", "requests[SOCKS,security]", "pandas; python_version>'3'"]
        ) == (
            "pandas ; python_version > \"3\"",
            "requests[security,socks]",
            "scikit-learn<2,>=1.3",
        )

    def test_versions_python_and_runtime_change_the_key(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        base = venvs.env_key("3.11", ["numpy>=1.26"])
        assert venvs.env_key("3.11", ["numpy>=1.25"]) != base
        assert venvs.env_key("3.11", ["numpy>=1.26", "scipy"]) != base
        assert venvs.env_key("3.12", ["numpy>=1.26"]) != base
        monkeypatch.setattr(venvs, "sdk_version", lambda: "a-changed-runtime")
        assert venvs.env_key("3.11", ["numpy>=1.26"]) != base

    def test_key_is_a_short_hex_digest(self) -> None:
        key = venvs.env_key("3.11", [])
        assert len(key) == 16
        int(key, 16)

    def test_sdk_version_follows_the_sdk_files(self) -> None:
        assert venvs.sdk_version() == venvs.sdk_version()
        assert len(venvs.sdk_version()) == 16

    def test_an_invalid_requirement_is_refused(self) -> None:
        with pytest.raises(InvalidPackageList):
            venvs.normalize_packages(["numpy>>1"])


class TestRedaction:
    def test_secret_options_and_assignments(self) -> None:
        assert redact_args([
            "uv", "pip", "install", "--token=abc", "--password", "hunter2", "API_KEY=xyz",
            "--keyring-provider", "subprocess", "flask>=3",
        ]) == [
            "uv", "pip", "install", "--token=***", "--password", "***", "API_KEY=***",
            "--keyring-provider", "***", "flask>=3",
        ]

    def test_credentials_in_urls(self) -> None:
        assert redact_args(["--index-url", "https://me:s3cret@pypi.example/simple"]) == [
            "--index-url", "https://***@pypi.example/simple",
        ]
        assert redact_args(["pkg @ https://ghp_token@example.com/pkg.whl"]) == [
            "pkg @ https://***@example.com/pkg.whl",
        ]

    def test_ordinary_arguments_are_kept(self) -> None:
        args = ["python", "-m", "gunicorn", "--bind", "fd://3", "app:application"]
        assert redact_args(args) == args

    def test_environment_values(self) -> None:
        assert redact_env({
            "GITHUB_TOKEN": "t", "Db_Password": "p", "SECRET": "s", "AWS_ACCESS_KEY_ID": "k",
            "PATH": "/bin", "UV_INDEX_URL": "https://u:p@host/simple",
        }) == {
            "GITHUB_TOKEN": "***", "Db_Password": "***", "SECRET": "***",
            "AWS_ACCESS_KEY_ID": "***", "PATH": "/bin", "UV_INDEX_URL": "https://***@host/simple",
        }

    def test_describe_renders_a_shell_line(self) -> None:
        assert describe(["echo", "a b"], {"X_TOKEN": "t", "MODE": "1"}) == (
            "MODE=1 'X_TOKEN=***' echo 'a b'"
        )


class TestValues:
    def test_artifact_round_trips_through_json(self) -> None:
        artifact = Artifact(key="svc-v1-ab12", env_key="0123abcd", path="/x/y", runner="local")
        assert Artifact.from_dict(json.loads(json.dumps(artifact.to_dict()))) == artifact

    @pytest.mark.parametrize("pid", [1234, None])
    @pytest.mark.parametrize("notes", [(), ("it runs on CPU",)])
    def test_instance_handle_round_trips_through_json(
        self, pid: int | None, notes: tuple[str, ...]
    ) -> None:
        handle = InstanceHandle(
            instance_id="abc", artifact_key="svc-v1-ab12", host="127.0.0.1", port=8123,
            pid=pid, runner="local", started_at=1700000000.25, notes=notes,
        )
        assert InstanceHandle.from_dict(json.loads(json.dumps(handle.to_dict()))) == handle

    def test_a_handle_stored_before_notes_existed_has_none(self) -> None:
        stored = {"instance_id": "abc", "artifact_key": "a", "host": "127.0.0.1", "port": 1,
                  "pid": 2, "runner": "local", "started_at": 0.0}
        assert InstanceHandle.from_dict(stored).notes == ()

    def test_from_dict_ignores_fields_a_newer_version_added(self) -> None:
        data = {"key": "k", "env_key": "e", "path": "p", "runner": "local", "digest": "x"}
        assert Artifact.from_dict(data) == Artifact("k", "e", "p", "local")

    def test_states_are_plain_strings(self) -> None:
        assert [str(state) for state in State] == ["starting", "healthy", "unhealthy", "exited"]
        assert json.dumps(State.HEALTHY) == '"healthy"'

    def test_local_runner_is_a_runner(self, tmp_path: Path) -> None:
        assert isinstance(LocalRunner(tmp_path), Runner)
        assert LocalRunner(tmp_path).name == "local"


class TestLocalRunnerParts:
    def test_memory_limit_caps_address_space(self) -> None:
        limit = memory_limit(512 * 1024**2, gpus=0)
        assert limit is not None
        assert limit.args == (resource.RLIMIT_AS, (512 * 1024**2, 512 * 1024**2))  # type: ignore[attr-defined]

    def test_no_address_space_limit_for_instances_on_gpus(self) -> None:
        assert memory_limit(40 * 1024**3, gpus=1) is None
        # On CPU for want of a GPU, the limit holds as on any CPU profile.
        assert memory_limit(40 * 1024**3, gpus=0) is not None

    def test_handles_of_other_runners_are_refused(self, tmp_path: Path) -> None:
        handle = InstanceHandle("i", "a", "127.0.0.1", 1, 1, "docker", 0.0)
        with pytest.raises(RunnerError):
            LocalRunner(tmp_path).logs(handle)
        assert not LocalRunner(tmp_path).adopt(handle)

    @pytest.mark.parametrize("service_id", ["../etc", "a/b", "", ".hidden"])
    def test_ids_that_are_not_one_path_component_are_refused(self, service_id: str) -> None:
        with pytest.raises(RunnerError):
            local_module._safe("service id", service_id)


class TestTail:
    def test_last_lines(self, tmp_path: Path) -> None:
        log = tmp_path / "x.log"
        log.write_text("".join(f"line {n}\n" for n in range(10_000)))
        assert tail(log, 2) == "line 9998\nline 9999\n"
        assert tail(log, 0) == ""
        assert tail(log, None).count("\n") == 10_000

    def test_short_and_missing_files(self, tmp_path: Path) -> None:
        log = tmp_path / "x.log"
        log.write_text("only\n")
        assert tail(log, 50) == "only\n"
        assert tail(tmp_path / "missing.log", 5) == ""


class TestInstallerEnvironment:
    def test_installers_see_no_secrets_of_the_control_plane(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SHIPYARD_SECRET_KEY", "x")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
        monkeypatch.setenv("UV_INDEX_URL", "https://mirror.example/simple")
        monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
        env = venvs._installer_env()
        assert "SHIPYARD_SECRET_KEY" not in env
        assert "AWS_SECRET_ACCESS_KEY" not in env
        assert env["UV_INDEX_URL"] == "https://mirror.example/simple"
        assert env["HTTPS_PROXY"] == "http://proxy:3128"
        assert "PATH" in env


class TestBytecodeStep:
    def test_the_store_lives_under_the_root_unless_given(self, tmp_path: Path) -> None:
        assert venvs.EnvironmentStore(tmp_path).bytecode_store == tmp_path / venvs.BYTECODE
        shared = tmp_path / "shared"
        assert venvs.EnvironmentStore(tmp_path, "uv", shared).bytecode_store == shared

    def test_the_users_store_is_in_their_cache_folder(self, tmp_path: Path) -> None:
        home = str(tmp_path / "user")
        assert venvs.user_bytecode_store({"HOME": home}) == Path(
            home, ".cache", "shipyard", "bytecode")
        assert venvs.user_bytecode_store({"HOME": home, "XDG_CACHE_HOME": "/var/cache/me"}
                                         ) == Path("/var/cache/me/shipyard/bytecode")
        # The XDG rule: a relative XDG_CACHE_HOME is ignored.
        assert venvs.user_bytecode_store({"HOME": home, "XDG_CACHE_HOME": "cache"}) == Path(
            home, ".cache", "shipyard", "bytecode")

    def test_the_control_plane_gives_the_local_runner_the_users_store_or_its_setting(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        runner = runner_named("local", Settings(home=tmp_path / "home", sandbox="none"))
        assert isinstance(runner, LocalRunner)
        assert runner.envs.bytecode_store == tmp_path / "cache" / "shipyard" / "bytecode"
        settings = Settings.resolve({"home": str(tmp_path / "home"), "sandbox": "none"},
                                    {"SHIPYARD_BYTECODE_STORE": str(tmp_path / "store")})
        assert settings.bytecode_store == tmp_path / "store"
        runner = runner_named("local", settings)
        assert isinstance(runner, LocalRunner)
        assert runner.envs.bytecode_store == tmp_path / "store"

    def test_installers_leave_compiling_to_the_store(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        steps: list[list[str]] = []
        monkeypatch.setattr(venvs, "_install_step",
                            lambda args, *rest: steps.append([str(arg) for arg in args]))
        venvs._Uv("uv").install(tmp_path, ["flask"], lambda line: None)
        venvs._Pip().install(tmp_path, ["flask"], lambda line: None)
        assert "--compile-bytecode" not in steps[0] and "--compile" not in steps[1]
        assert "--no-compile" in steps[1]

    def test_compiling_runs_the_store_script_isolated_and_reports_counts(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
        steps: list[list[str]] = []

        def step(args: list[object], *rest: object) -> None:
            steps.append([str(arg) for arg in args])
            summary = Path(steps[-1][steps[-1].index("--summary") + 1])
            summary.write_text(json.dumps(
                {"files": 3, "reused": 2, "compiled": 1, "failed": ["x.py: SyntaxError"]}
            ))

        monkeypatch.setattr(venvs, "_install_step", step)
        store = venvs.EnvironmentStore(tmp_path / "envs")
        counts = store._compile(tmp_path, lambda line: None)
        assert counts == {"files": 3, "reused": 2, "compiled": 1, "not_compilable": 1}
        assert steps[0][1:4] == ["-I", "-S", str(venvs.bytecode.SCRIPT)]
        assert steps[0][steps[0].index("--store") + 1] == str(store.bytecode_store)
        assert not (tmp_path / ".bytecode-summary.json").exists()

    def test_a_missing_summary_fails_the_build(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
        monkeypatch.setattr(venvs, "_install_step", lambda *args: None)
        with pytest.raises(BuildFailed, match="compiling bytecode"):
            venvs.EnvironmentStore(tmp_path / "envs")._compile(tmp_path, lambda line: None)


def test_a_route_list_is_read_only_from_a_plain_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text('{"routes": [], "problem": "the secret"}')
    planted = tmp_path / "link.json"
    planted.symlink_to(secret)
    with pytest.raises(BuildFailed, match="unreadable"):
        local_module._read_route_list(planted)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(BuildFailed, match="not a plain file"):
        local_module._read_route_list(fifo)
    assert local_module._read_route_list(secret).problem == "the secret"

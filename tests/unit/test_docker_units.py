"""The docker runner's pure parts: Dockerfiles, contexts, limits, labels, build output
parsing and the base image recipes, without an engine."""

from __future__ import annotations

import io
import socket
import tarfile
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docker.errors
import pytest

from shipyard.domain.environments import EnvironmentCatalog
from shipyard.domain.manifest import parse_manifest
from shipyard.errors import InvalidInput
from shipyard.images import RECIPES, debian_mirror, recipes_for
from shipyard.resources import environments_file
from shipyard_runners import Profile
from shipyard_runners.containers import labels
from shipyard_runners.containers.builds import build_image
from shipyard_runners.containers.dockerfiles import (
    environment_context,
    environment_dockerfile,
    environment_key,
    generation_context,
    generation_dockerfile,
)
from shipyard_runners.containers.host_address import (
    bridge_address,
    bridge_gateway,
    seen_from_containers,
    url_for_containers,
)
from shipyard_runners.containers.limits import limits_for
from shipyard_runners.containers.published_ports import wait_until_refused
from shipyard_runners.containers.usage import memory_in_use
from shipyard_runners.venvs import RUNTIME_REQUIREMENTS
from shipyard_sdk.errors import BuildFailed, RunnerError

LABELS = labels.installation_labels("test", "environment")


def members(context: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(context)) as archive:
        return {member.name: member for member in archive.getmembers()}


def read(context: bytes, name: str) -> str:
    with tarfile.open(fileobj=io.BytesIO(context)) as archive:
        handle = archive.extractfile(name)
        assert handle is not None
        return handle.read().decode()


def test_packages_come_before_the_code_which_is_compiled_as_the_service_user() -> None:
    env = environment_dockerfile("shipyard/python:3.11-bookworm", "3.11", LABELS)
    assert env.startswith("FROM shipyard/python:3.11-bookworm\n")
    assert "pip install" in env and "-r /opt/shipyard/requirements.txt" in env
    assert "PIP_CERT=/opt/shipyard/ca-certificates.crt" in env
    assert "lib/python3.11/site-packages/shipyard_sdk" in env
    assert env.splitlines()[-1] == "USER shipyard"
    generation = generation_dockerfile("shipyard/x-environments:abc", "v3", LABELS)
    lines = generation.splitlines()
    assert lines[0] == "FROM shipyard/x-environments:abc"
    assert "USER" not in generation  # the environment's user, shipyard, compiles the code
    assert "-m compileall -q /srv/app" in lines[-1]
    # The app is imported after the build, with its secrets (see import_checks).
    assert "shipyard_sdk.runtime" not in generation
    assert "SHIPYARD_GENERATION=v3" in generation
    assert "PYTHONDONTWRITEBYTECODE=1" in generation


def test_a_python_that_is_not_a_version_is_refused() -> None:
    with pytest.raises(BuildFailed, match="not a Python version"):
        environment_dockerfile("base", "3.11; rm -rf /", LABELS)


def test_the_environment_key_follows_what_goes_into_the_image() -> None:
    key = environment_key("sha256:aaa", "3.11", ("numpy", "pandas"))
    assert key == environment_key("sha256:aaa", "3.11", ("numpy", "pandas"))
    assert key != environment_key("sha256:bbb", "3.11", ("numpy", "pandas"))
    assert key != environment_key("sha256:aaa", "3.11", ("numpy",))
    assert key != environment_key("sha256:aaa", "3.12", ("numpy", "pandas"))


def test_the_environment_context_holds_the_requirements_the_sdk_and_the_certificates() -> None:
    context = environment_context("FROM x\n", ("numpy>=2",), b"CERTS")
    names = members(context)
    assert read(context, "requirements.txt").splitlines() == [*RUNTIME_REQUIREMENTS, "numpy>=2"]
    assert read(context, "ca-certificates.crt") == "CERTS"
    assert "shipyard_sdk/runtime/wsgi.py" in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_the_code_context_copies_plain_files_readable_by_the_service_user(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("app = None\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"x")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "model.bin").write_bytes(b"\0")
    (tmp_path / "pkg" / "model.bin").chmod(0o600)
    (tmp_path / "link.py").symlink_to("/etc/passwd")
    names = members(generation_context("FROM x\n", tmp_path))
    assert set(names) == {"Dockerfile", "app", "app/app.py", "app/pkg", "app/pkg/model.bin"}
    assert names["app/pkg/model.bin"].mode == 0o644
    assert names["app/pkg"].mode == 0o755
    assert names["app/app.py"].uid == 0


def test_an_empty_code_directory_still_has_an_app_folder(tmp_path: Path) -> None:
    assert "app" in members(generation_context("FROM x\n", tmp_path))


def test_profiles_become_container_limits() -> None:
    small = limits_for(Profile(name="small", cpu=1, memory_bytes=4 * 1024**3), engine_cpus=2)
    assert small.run_options() == {
        "nano_cpus": 1_000_000_000, "mem_limit": 4 * 1024**3, "memswap_limit": 4 * 1024**3,
    }
    assert small.capped_from is None
    half = limits_for(Profile(name="half", cpu=0.5, memory_bytes=0), engine_cpus=2)
    assert half.run_options() == {"nano_cpus": 500_000_000}


def test_a_profile_asking_for_more_cores_than_the_engine_has_is_capped() -> None:
    large = limits_for(Profile(name="large", cpu=4, memory_bytes=1), engine_cpus=2)
    assert large.nano_cpus == 2_000_000_000
    assert large.capped_from == 4


def test_a_gpu_profile_asks_for_nvidia_devices() -> None:
    gpu = limits_for(Profile(name="gpu", cpu=1, memory_bytes=1, gpu=2), engine_cpus=8)
    [request] = gpu.run_options()["device_requests"]
    assert request["Driver"] == "nvidia"
    assert request["Count"] == 2
    assert request["Capabilities"] == [["gpu"]]


def test_installation_ids_are_stable_and_checked(tmp_path: Path) -> None:
    assert labels.installation_id(tmp_path) == labels.installation_id(tmp_path)
    assert labels.installation_id(tmp_path) != labels.installation_id(tmp_path / "other")
    labels.checked_installation(labels.installation_id(tmp_path))
    with pytest.raises(RunnerError, match="lowercase"):
        labels.checked_installation("Not/Valid")
    assert labels.installation_filter("abc", {labels.KIND: "instance"}) == {"label": [
        "io.shipyard.managed=true", "io.shipyard.installation=abc", "io.shipyard.kind=instance",
    ]}


def test_memory_in_use_leaves_out_the_page_cache() -> None:
    stats = {"memory_stats": {"usage": 100, "stats": {"total_inactive_file": 30}}}
    assert memory_in_use(stats) == 70
    assert memory_in_use({"memory_stats": {"usage": 50, "stats": {"inactive_file": 10}}}) == 40
    assert memory_in_use({}) == 0


def fake_engine(messages: list[dict[str, Any]]) -> Any:
    """An engine whose build answers ``messages``, as the Docker API's stream does."""
    return SimpleNamespace(api=SimpleNamespace(build=lambda **_options: iter(messages)))


def test_build_output_is_logged_as_whole_lines_and_the_image_id_returned() -> None:
    lines: list[str] = []
    image = build_image(
        fake_engine([
            {"stream": "Step 1/2 : FROM base\n"},
            {"stream": " ---> 1234567890ab\nStep 2/2 : RUN pip ins"},
            {"stream": "tall x\n"},
            {"stream": "\x1b[91mCollecting x\n\x1b[0m"},
            {"aux": {"ID": "sha256:abc"}},
            {"stream": "Successfully built abc\n"},
        ]),
        b"", tag="t", buildargs={}, steps={}, log=lines.append,
    )
    assert image == "sha256:abc"
    assert lines == [
        "Step 1/2 : FROM base", " ---> 1234567890ab", "Step 2/2 : RUN pip install x",
        "Collecting x", "Successfully built abc",
    ]


def test_a_failed_step_is_named_with_its_last_line_of_output() -> None:
    lines: list[str] = []
    with pytest.raises(BuildFailed) as failure:
        build_image(
            fake_engine([
                {"stream": "Step 3/9 : RUN python3 -m venv /v && pip install -r r.txt\n"},
                {"stream": " ---> Running in 0123456789ab\n"},
                {"stream": "ERROR: No matching distribution found for nope\n"},
                {"error": "The command returned a non-zero code: 1",
                 "errorDetail": {"code": 1, "message": "The command returned..."}},
            ]),
            b"", tag="t", buildargs={}, steps={"pip install": "installing packages"},
            log=lines.append,
        )
    assert failure.value.message == (
        "installing packages failed (exit code 1): "
        "ERROR: No matching distribution found for nope"
    )
    assert lines[-1] == "The command returned a non-zero code: 1"


def test_the_debian_mirror_is_the_one_apt_uses(tmp_path: Path) -> None:
    deb822 = tmp_path / "debian.sources"
    deb822.write_text("Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n")
    assert debian_mirror([deb822]) == "http://mirror.example/debian"
    one_line = tmp_path / "sources.list"
    one_line.write_text("# comment\ndeb [arch=amd64] http://other.example/debian bookworm main\n")
    assert debian_mirror([tmp_path / "missing", one_line]) == "http://other.example/debian"
    assert debian_mirror([tmp_path / "missing"]) == "http://deb.debian.org/debian"


def test_every_base_image_of_the_bundled_profiles_has_a_recipe() -> None:
    catalog = EnvironmentCatalog.load(environments_file())
    names = {profile.base_image for profile in catalog.profiles.values()}
    assert [recipe.name for recipe in recipes_for(sorted(names))] == sorted(names)
    gpu = RECIPES[catalog.get("gpu").base_image]
    assert gpu.env["NVIDIA_VISIBLE_DEVICES"] == "all"
    assert gpu.rootfs_key == RECIPES[catalog.get("small").base_image].rootfs_key
    with pytest.raises(InvalidInput, match="no recipe for base image 'someone/else:1'"):
        recipes_for(["someone/else:1"])


def test_a_manifest_may_name_the_runner() -> None:
    assert parse_manifest("name: boxed\nrunner: docker\n").to_spec()["runner"] == "docker"
    assert "runner" not in parse_manifest("name: plain\n").to_spec()
    with pytest.raises(InvalidInput, match="'runner' must be a string"):
        parse_manifest("name: odd\nrunner: [docker]\n")


# -- where containers reach the gateway ---------------------------------------------------


@pytest.mark.parametrize(("url", "seen"), [
    ("http://127.0.0.1:8080", "http://172.17.0.1:8080"),
    ("http://localhost:8080/", "http://172.17.0.1:8080/"),
    ("http://127.0.0.2:9", "http://172.17.0.1:9"),
    ("http://[::1]:8080", "http://172.17.0.1:8080"),
    ("http://127.0.0.1", "http://172.17.0.1"),
    ("https://shipyard.example.com", "https://shipyard.example.com"),
    ("http://192.168.1.5:8080", "http://192.168.1.5:8080"),
])
def test_a_loopback_shipyard_url_is_given_to_containers_on_the_bridge_address(
    url: str, seen: str
) -> None:
    assert seen_from_containers(url, "172.17.0.1") == seen


def networks_of(ipam_configs: list[dict[str, str]]) -> Any:
    network = SimpleNamespace(attrs={"IPAM": {"Config": ipam_configs}})
    return SimpleNamespace(networks=SimpleNamespace(get=lambda name: network))


def test_the_bridge_address_is_the_ipv4_gateway_of_the_bridge_network() -> None:
    client = networks_of([{"Subnet": "fd00::/64", "Gateway": "fd00::1"},
                          {"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}])
    assert bridge_gateway(client) == "172.18.0.1"


def default_bridge(subnet: str = "172.17.0.0/16", interface: str = "docker0") -> dict[str, Any]:
    """The ``bridge`` network as an engine started with its default flags describes it:
    a subnet, no gateway (``docker network inspect bridge``, trimmed)."""
    return {
        "Name": "bridge", "Driver": "bridge", "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None, "Config": [{"Subnet": subnet}]},
        "Options": {
            "com.docker.network.bridge.default_bridge": "true",
            "com.docker.network.bridge.enable_icc": "true",
            "com.docker.network.bridge.enable_ip_masquerade": "true",
            "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
            "com.docker.network.bridge.name": interface,
            "com.docker.network.driver.mtu": "1500",
        },
    }


def test_without_a_gateway_the_bridge_address_is_the_bridge_interfaces() -> None:
    interfaces = {"lo": ["127.0.0.1"], "eth0": ["10.0.0.7"], "br-x": ["172.18.5.1"]}
    assert bridge_address(default_bridge("172.18.0.0/16", "br-x"), interfaces) == "172.18.5.1"
    assert bridge_address(default_bridge(), {"docker0": ["172.17.0.1"]}) == "172.17.0.1"
    # An address of the interface outside the network's subnet is not the bridge's.
    assert bridge_address(default_bridge("172.18.0.0/16", "br-x"),
                          {"br-x": ["192.168.9.1"]}) == "172.18.0.1"


def test_without_a_gateway_or_an_interface_the_bridge_address_is_the_subnets_first() -> None:
    assert bridge_address(default_bridge("172.18.0.0/16", "br-x"), {}) == "172.18.0.1"
    client = SimpleNamespace(networks=SimpleNamespace(
        get=lambda name: SimpleNamespace(attrs=default_bridge("10.99.0.0/24", "no-such-if"))
    ))
    assert bridge_gateway(client) == "10.99.0.1"


def test_a_bridge_without_any_ipv4_address_is_an_error_that_says_so() -> None:
    attrs = default_bridge("fd00::/64", "docker0")
    with pytest.raises(RunnerError, match=r"no IPv4 gateway or subnet.*'docker0'"):
        bridge_address(attrs, {"eth0": ["10.0.0.7"]})


def engine_with_bridge(attrs: dict[str, Any] | None) -> Any:
    """A client whose engine describes its ``bridge`` network as ``attrs`` (None: it has
    none, as an engine started with ``--bridge=none``)."""
    def get(name: str) -> Any:
        if attrs is None:
            raise docker.errors.NotFound(f"network {name} not found")
        return SimpleNamespace(attrs=attrs)
    return SimpleNamespace(networks=SimpleNamespace(get=get))


def test_containers_call_the_gateway_on_the_bridge_of_an_engine_with_default_flags() -> None:
    client = engine_with_bridge(default_bridge("10.99.0.0/24", "no-such-if"))
    assert url_for_containers(client, "http://127.0.0.1:8080") == ("http://10.99.0.1:8080", "")
    assert url_for_containers(client, "https://shipyard.example.com") == (
        "https://shipyard.example.com", "")


@pytest.mark.parametrize(("attrs", "reason"), [
    (None, "asking the engine for its 'bridge' network failed: network bridge not found"),
    (default_bridge("fd00::/64", "docker9"), "names no IPv4 gateway or subnet"),
])
def test_without_a_bridge_address_a_container_still_starts_and_its_note_says_why(
    attrs: dict[str, Any] | None, reason: str
) -> None:
    url, note = url_for_containers(engine_with_bridge(attrs), "http://127.0.0.1:8080")
    assert url == "http://127.0.0.1:8080"
    assert note.startswith("its calls to other services fail: they go to http://127.0.0.1:8080")
    assert reason in note


def test_a_stop_waits_until_the_published_port_refuses_connections() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    assert not wait_until_refused("127.0.0.1", port, within=0.2)
    threading.Timer(0.3, listener.close).start()
    assert wait_until_refused("127.0.0.1", port, within=5.0)

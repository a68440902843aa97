"""The swarm runner's parts that need no engine: the service spec of a replica (resources,
GPUs, health check, ports, labels), the health probe run against a real server, the port
range, tasks and nodes as the engine describes them, image names, and how the settings
choose the runner."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import docker.types
import pytest

from shipyard.settings import Settings
from shipyard.supervisor.runner_choice import runner_named
from shipyard_runners import State, SwarmRunner
from shipyard_runners.containers import labels
from shipyard_runners.containers.dockerfiles import APP_PORT, SERVICE_UID, SERVICE_USER, VENV
from shipyard_runners.swarm.cluster import GPU_RESOURCE, Node, gpus_in_swarm, node_address
from shipyard_runners.swarm.ports import PortRange, published_ports
from shipyard_runners.swarm.registries import ImageName, Registry
from shipyard_runners.swarm.replica_specs import (
    HealthTiming,
    health_probe,
    replica_spec,
    service_name,
)
from shipyard_runners.swarm.tasks import ReplicaTask, latest_task
from shipyard_sdk.errors import InvalidInput, RunnerError
from shipyard_sdk.runtime.health import HEALTH_PATH

INSTANCE = "0123456789abcdef0123456789abcdef"
LABELS = labels.installation_labels("h123", "instance", **{labels.INSTANCE: INSTANCE})


def spec(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "instance_id": INSTANCE, "image": "127.0.0.1:5000/shipyard/h123-generations:a@sha256:1",
        "command": ["gunicorn"], "environment": {"A": "1"}, "labels": LABELS,
        "nano_cpus": 1_500_000_000, "memory_bytes": 2 * 1024**3, "gpus": 0,
        "published_port": 20001, "stop_grace": 30.0, "health": HealthTiming(),
    }
    values.update(changes)
    built = replica_spec(**values)  # type: ignore[arg-type]
    return {**built.create_options(), "task_template": built.task_template}


def test_a_replica_is_one_task_never_restarted_with_its_profile_reserved_and_limited() -> None:
    built = spec()
    template = built["task_template"]
    assert built["name"] == service_name(INSTANCE) == f"shipyard-{INSTANCE}"
    assert built["mode"] == {"replicated": {"Replicas": 1}}
    assert template["RestartPolicy"]["Condition"] == "none"
    assert template["Resources"] == {
        "Limits": {"NanoCPUs": 1_500_000_000, "MemoryBytes": 2 * 1024**3},
        "Reservations": {"NanoCPUs": 1_500_000_000, "MemoryBytes": 2 * 1024**3},
    }
    container = template["ContainerSpec"]
    assert container["User"] == SERVICE_USER
    assert container["Env"] == ["A=1"]
    assert container["StopGracePeriod"] == 30_000_000_000
    assert container["Labels"] == built["labels"] == LABELS
    assert built["endpoint_spec"]["Ports"] == [
        {"Protocol": "tcp", "TargetPort": APP_PORT, "PublishedPort": 20001,
         "PublishMode": "host"}]


def test_gpus_are_reserved_as_generic_resources() -> None:
    reservations = spec(gpus=2)["task_template"]["Resources"]["Reservations"]
    assert reservations["GenericResources"] == [
        {"DiscreteResourceSpec": {"Kind": GPU_RESOURCE, "Value": 2}}]
    assert "GenericResources" not in spec()["task_template"]["Resources"]["Reservations"]


def test_the_health_check_runs_the_probe_on_the_health_route() -> None:
    timing = HealthTiming(interval=7, timeout=3, retries=4, start_period=90)
    check = spec(health=timing)["task_template"]["ContainerSpec"]["Healthcheck"]
    assert check["Test"][:5] == ["CMD", f"{VENV}/bin/python", "-I", "-S", "-c"]
    assert check["Test"][5] == health_probe(APP_PORT, 3)
    assert HEALTH_PATH in check["Test"][5]
    assert (check["Interval"], check["Timeout"], check["Retries"], check["StartPeriod"]) == (
        7_000_000_000, 3_000_000_000, 4, 90_000_000_000)


def test_secrets_are_mounted_for_the_service_user_read_only() -> None:
    reference = docker.types.SecretReference("id1", "shipyard-x-0", filename="TOKEN",
                                             uid=str(SERVICE_UID), gid=str(SERVICE_UID),
                                             mode=0o400)
    container = spec(secrets=[reference])["task_template"]["ContainerSpec"]
    assert container["Secrets"] == [{"SecretID": "id1", "SecretName": "shipyard-x-0", "File": {
        "Name": "TOKEN", "UID": str(SERVICE_UID), "GID": str(SERVICE_UID), "Mode": 0o400}}]


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == HEALTH_PATH else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def probe(port: int) -> int:
    return subprocess.run([sys.executable, "-I", "-S", "-c", health_probe(port, 2.0)],
                          capture_output=True, timeout=30).returncode


def test_the_probe_passes_on_200_and_fails_otherwise(
    health_server: http.server.HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = health_server.server_address[1]
    assert probe(port) == 0
    monkeypatch.setattr(_Health, "status", 503)
    assert probe(port) == 1
    health_server.shutdown()
    health_server.server_close()
    assert probe(port) != 0  # nothing listens


def test_port_ranges() -> None:
    ports = PortRange.parse(" 20000 - 20002 ")
    assert str(ports) == "20000-20002"
    assert ports.choose({20000, 20002}) == 20001
    assert {ports.choose({20001, 40000}) for _ in range(50)} <= {20000, 20002}
    with pytest.raises(RunnerError, match="every port of swarm_ports 20000-20002"):
        ports.choose({20000, 20001, 20002})
    for bad in ("20000", "30000-20000", "80-90", "20000-70000", "a-b"):
        with pytest.raises(InvalidInput, match="swarm_ports"):
            PortRange.parse(bad)


def test_published_ports_of_every_service_in_either_mode() -> None:
    services = [
        {"Spec": {"EndpointSpec": {"Ports": [{"TargetPort": 8000, "PublishedPort": 20001,
                                              "PublishMode": "host"}]}}},
        {"Spec": {}, "Endpoint": {"Ports": [{"TargetPort": 80, "PublishedPort": 30001,
                                             "PublishMode": "ingress"}]}},
        {"Spec": {"EndpointSpec": {"Ports": [{"TargetPort": 8000, "PublishMode": "host"}]}}},
    ]
    assert published_ports(services) == {20001, 30001}


def task(state: str, desired: str = "running", **status: object) -> dict[str, object]:
    return {"ID": "t1", "NodeID": "n1" if state not in ("new", "pending") else "",
            "DesiredState": desired, "CreatedAt": "2026-12-06T11:00:00Z",
            "Status": {"State": state, "Message": "", **status}}


def test_task_states_become_instance_states() -> None:
    assert ReplicaTask.from_attrs(task("pending")).engine_state() == State.STARTING
    assert not ReplicaTask.from_attrs(task("pending")).placed
    assert ReplicaTask.from_attrs(task("assigned")).placed
    assert ReplicaTask.from_attrs(task("preparing")).engine_state() == State.STARTING
    # The container runs: the runner asks the health route itself.
    assert ReplicaTask.from_attrs(task("starting")).engine_state() is None
    running = ReplicaTask.from_attrs(task("running", ContainerStatus={
        "ContainerID": "c1", "PID": 4242, "ExitCode": 0}, PortStatus={"Ports": [
            {"TargetPort": 8000, "PublishedPort": 20001, "PublishMode": "host"}]}))
    assert running.engine_state() is None
    assert (running.pid, running.published_port, running.container_id) == (4242, 20001, "c1")
    failed = ReplicaTask.from_attrs(task("failed", "shutdown", Err="task: non-zero exit (137)",
                                         ContainerStatus={"PID": 0, "ExitCode": 137}))
    assert failed.engine_state() == State.EXITED
    assert failed.pid is None
    assert failed.why_it_ended() == (
        "its Swarm task is failed (exit code 137): task: non-zero exit (137)")
    # Told to stop: it is on its way out.
    assert ReplicaTask.from_attrs(task("running", "shutdown")).engine_state() == State.EXITED


def test_the_latest_task_is_the_newest() -> None:
    older = {**task("failed"), "ID": "old", "CreatedAt": "2026-12-06T10:00:00Z"}
    assert latest_task([task("running"), older]).id == "t1"  # type: ignore[union-attr]
    assert latest_task([]) is None


def node(**changes: object) -> dict[str, object]:
    attrs: dict[str, object] = {
        "ID": "n1", "Spec": {"Availability": "active"},
        "Description": {"Hostname": "box", "Resources": {
            "NanoCPUs": 4_000_000_000, "MemoryBytes": 8 * 1024**3, "GenericResources": [
                {"NamedResourceSpec": {"Kind": GPU_RESOURCE, "Value": "GPU-1"}},
                {"NamedResourceSpec": {"Kind": GPU_RESOURCE, "Value": "GPU-2"}},
                {"DiscreteResourceSpec": {"Kind": "SSD", "Value": 1}},
            ]}},
        "Status": {"State": "ready", "Addr": "10.0.0.5"},
    }
    attrs.update(changes)
    return attrs


def test_nodes_their_addresses_and_gpus() -> None:
    found = Node.from_attrs(node())
    assert (found.address, found.nano_cpus, found.ready) == ("10.0.0.5", 4_000_000_000, True)
    assert found.generic_resources == {GPU_RESOURCE: 2, "SSD": 1}
    assert gpus_in_swarm([found]) == f"{GPU_RESOURCE} generic resources on 1 node(s) (box: 2)"
    drained = Node.from_attrs(node(Spec={"Availability": "drain"}))
    assert not drained.ready
    assert gpus_in_swarm([drained]) == ""
    manager = node(Status={"State": "ready", "Addr": "0.0.0.0"},
                   ManagerStatus={"Addr": "192.168.1.7:2377"})
    assert node_address(manager) == "192.168.1.7"
    with pytest.raises(RunnerError, match="--advertise-addr"):
        node_address(node(Status={"State": "ready", "Addr": "0.0.0.0"}))


def test_image_names() -> None:
    pinned = "127.0.0.1:5000/shipyard/h1-generations:svc.v1-ab12@sha256:feed"
    name = ImageName.parse(pinned)
    assert (name.registry, name.repository, name.tag, name.digest) == (
        "127.0.0.1:5000", "shipyard/h1-generations", "svc.v1-ab12", "sha256:feed")
    assert name.local == "shipyard/h1-generations:svc.v1-ab12"
    assert name.tagged == "127.0.0.1:5000/shipyard/h1-generations:svc.v1-ab12"
    assert name.pinned == pinned
    assert ImageName.parse("shipyard/h1-generations:x").registry == ""
    assert ImageName.parse("localhost/a/b").registry == "localhost"
    assert Registry("127.0.0.1:5000").name("shipyard/x:t").tagged == "127.0.0.1:5000/shipyard/x:t"


def test_registry_addresses() -> None:
    for bad in ("http://127.0.0.1:5000", "127.0.0.1:5000/path", "", "a b"):
        with pytest.raises(InvalidInput, match="swarm_registry"):
            Registry(bad)
    assert Registry("[::1]:5000").address == "[::1]:5000"
    assert Registry("registry.example.com").address == "registry.example.com"


def test_the_swarm_runner_needs_a_registry_and_takes_its_settings(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="swarm_registry"):
        runner_named("swarm", Settings(home=tmp_path))
    settings = Settings.resolve({"home": tmp_path}, {"SHIPYARD_SWARM_REGISTRY": "127.0.0.1:5000",
                                                     "SHIPYARD_SWARM_PORTS": "21000-21999"})
    runner = runner_named("swarm", settings)
    assert isinstance(runner, SwarmRunner)
    assert runner.registry.address == "127.0.0.1:5000"
    assert str(runner.ports) == "21000-21999"
    assert runner.root == tmp_path / "swarm"
    with pytest.raises(InvalidInput, match="swarm_ports"):
        runner_named("swarm", Settings(home=tmp_path, swarm_registry="127.0.0.1:5000",
                                       swarm_ports="1-2"))

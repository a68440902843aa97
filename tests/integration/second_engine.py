"""A second Docker engine on this machine, in a network namespace of its own, joined to the
test session's swarm as a worker: a second node for the swarm runner's tests.

The namespace is joined to this machine by a veth pair (``10.77.N.1`` here, ``10.77.N.2``
there). Its ``dockerd`` has its own data root, exec root (and so its own containerd), pid
file, socket and cgroup parent; it is started with ``nsenter --net`` rather than ``ip netns
exec``, which remounts ``/sys`` and so hides the cgroup mounts dockerd needs, and through
``setsid --fork``: it is a daemon of this machine, not a child of the test process (whose
leak check would count the helpers it starts and stops by itself), stopped by the pid it
writes in its pid file. The node
joins the manager at ``10.77.N.1:2377`` (the session's swarm listens on every address) and
advertises ``10.77.N.2``, which is where its tasks' published ports are reached.

Inside the namespace, loopback is the namespace's own, so two addresses are forwarded by
threads of the test process (a socket belongs to the namespace of the thread that made it:
``setns`` applies to one thread): the manager's advertised ``127.0.0.1:2377`` to
``10.77.N.1:2377`` (connected from inside, so the manager sees the node's own address), and
the registry's ``127.0.0.1:<port>`` to the same address here, so the node pulls the images
the manager pushed, by the same name.

Everything is removed when the engine is stopped: the node leaves and is removed from the
swarm, the engine stops, the namespace and its folder go.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

__all__ = ["SecondEngine", "second_engine_problem", "start_second_engine"]

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
MANAGER_PORT = 2377


def second_engine_problem() -> str:
    """Why a second engine cannot be run here ("" when it can)."""
    if os.geteuid() != 0:
        return "making a network namespace and running dockerd need root"
    missing = [tool for tool in ("ip", "nsenter", "dockerd") if shutil.which(tool) is None]
    return f"{', '.join(missing)} not found" if missing else ""


def _setns(descriptor: int) -> None:
    if _libc.setns(descriptor, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


@contextlib.contextmanager
def inside(netns: Path) -> Iterator[None]:
    """The calling thread in network namespace ``netns`` for the block."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns, os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


@dataclass
class Forwarder:
    """TCP forwarding from addresses inside ``netns`` to addresses inside it or here."""

    netns: Path
    _listeners: list[socket.socket] = field(default_factory=list)
    _open: list[socket.socket] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)

    def forward(self, listen: tuple[str, int], target: tuple[str, int], *,
                connect_inside: bool) -> None:
        with inside(self.netns):
            listener = socket.create_server(listen)
        listener.settimeout(0.5)
        self._listeners.append(listener)
        threading.Thread(target=self._serve, args=(listener, target, connect_inside),
                         daemon=True).start()

    def _serve(self, listener: socket.socket, target: tuple[str, int],
               connect_inside: bool) -> None:
        while not self._stopping.is_set():
            try:
                accepted, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                with inside(self.netns) if connect_inside else contextlib.nullcontext():
                    outgoing = socket.create_connection(target, timeout=10)
            except OSError:
                accepted.close()
                continue
            accepted.settimeout(None)
            outgoing.settimeout(None)
            self._open += [accepted, outgoing]
            for source, sink in ((accepted, outgoing), (outgoing, accepted)):
                threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self._stopping.set()
        for sock in self._listeners + self._open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@dataclass
class SecondEngine:
    """The running second engine: its node's address and id, and how to stop it all."""

    address: str
    node_id: str
    client: docker.DockerClient
    netns_name: str
    folder: Path
    pid: int
    forwarder: Forwarder

    def stop(self, manager: docker.DockerClient) -> None:
        with contextlib.suppress(docker.errors.APIError):
            self.client.swarm.leave(force=True)
        self.client.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                manager.api.remove_node(self.node_id, force=True)
                break
            except docker.errors.NotFound:
                break
            except docker.errors.APIError:
                time.sleep(0.5)
        _stop(self.pid)
        self.forwarder.close()
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("netns", "del", self.netns_name)
        shutil.rmtree(self.folder, ignore_errors=True)
        _remove_cgroups(self.netns_name)


def _remove_cgroups(parent: str) -> None:
    """The (empty) cgroups the engine made under its cgroup parent, deepest first."""
    root = Path("/sys/fs/cgroup")
    for top in [*root.glob(f"*/{parent}"), root / parent]:
        if top.is_dir():
            for folder in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if folder.is_dir():
                    with contextlib.suppress(OSError):
                        folder.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()


def start_second_engine(manager: docker.DockerClient, registry: str) -> SecondEngine:
    """Start the engine, join it to ``manager``'s swarm as a worker, and forward
    ``registry`` (``127.0.0.1:<port>``) into its namespace."""
    tag = secrets.token_hex(3)
    name, subnet = f"shipyard-{tag}", f"10.77.{int(tag[:2], 16)}"
    here, there = f"{subnet}.1", f"{subnet}.2"
    host_end, node_end = f"sy{tag}h", f"sy{tag}n"
    folder = Path(tempfile.mkdtemp(prefix="sy-"))  # short: containerd's socket is in it
    _ip("netns", "add", name)
    netns = Path("/var/run/netns") / name
    pid: int | None = None
    forwarder = Forwarder(netns)
    try:
        _ip("link", "add", host_end, "type", "veth", "peer", "name", node_end)
        _ip("link", "set", node_end, "netns", name)
        _ip("addr", "add", f"{here}/30", "dev", host_end)
        _ip("link", "set", host_end, "up")
        for args in (("addr", "add", f"{there}/30", "dev", node_end),
                     ("link", "set", node_end, "up"), ("link", "set", "lo", "up"),
                     ("route", "add", "default", "via", here)):
            _ip("-n", name, *args)
        sock = folder / "docker.sock"
        with (folder / "dockerd.log").open("wb") as output:
            subprocess.run(
                ["setsid", "--fork", "nsenter", f"--net={netns}", "dockerd",
                 "--data-root", str(folder / "data"), "--exec-root", str(folder / "exec"),
                 "--pidfile", str(folder / "docker.pid"), "-H", f"unix://{sock}",
                 "--cgroup-parent", name],
                stdout=output, stderr=subprocess.STDOUT, check=True, timeout=30)
        client, pid = _wait_for_engine(f"unix://{sock}", folder)
        registry_port = int(registry.rsplit(":", 1)[1])
        forwarder.forward(("127.0.0.1", MANAGER_PORT), (here, MANAGER_PORT),
                          connect_inside=True)
        forwarder.forward(("127.0.0.1", registry_port), ("127.0.0.1", registry_port),
                          connect_inside=False)
        token = manager.swarm.attrs["JoinTokens"]["Worker"]
        client.swarm.join(remote_addrs=[f"{here}:{MANAGER_PORT}"], join_token=token,
                          listen_addr=f"{there}:{MANAGER_PORT}", advertise_addr=there)
        node_id = str(client.info()["Swarm"]["NodeID"])
    except BaseException:
        forwarder.close()
        pid = pid or _pid_in(folder / "docker.pid")
        if pid is not None:
            _stop(pid)
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("netns", "del", name)
        shutil.rmtree(folder, ignore_errors=True)
        _remove_cgroups(name)
        raise
    return SecondEngine(address=there, node_id=node_id, client=client, netns_name=name,
                        folder=folder, pid=pid, forwarder=forwarder)


def _pid_in(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _stop(pid: int) -> None:
    """Stop dockerd ``pid`` (it stops its containerd and containers first)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _wait_for_engine(base_url: str, folder: Path) -> tuple[docker.DockerClient, int]:
    """The engine's client and pid, once it answers."""
    deadline = time.monotonic() + 60
    path = base_url.removeprefix("unix://")
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_UNIX) as probe:
            answering = probe.connect_ex(path) == 0
        pid = _pid_in(folder / "docker.pid")
        if answering and pid is not None:  # docker-py leaks the socket of a failed client
            client = docker.DockerClient(base_url=base_url, version="auto")
            client.ping()
            return client, pid
        time.sleep(0.2)
    raise RuntimeError("the second dockerd did not answer: "
                       + (folder / "dockerd.log").read_text()[-1000:])

"""GPU memory in an instance's usage: ``nvidia-smi``'s compute processes, summed over an
instance's process tree. A stand-in ``nvidia-smi`` on PATH plays the GPU driver here
(this machine has none); the real one is what runs on a GPU machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from shipyard_runners.gpu_memory import MIB, GpuMemoryMeter, parse_compute_apps
from shipyard_runners.processes import tree_pids


def test_compute_apps_are_bytes_per_pid_and_odd_lines_are_left_out() -> None:
    output = "1234, 2048\n1234, 1024\n99, [N/A]\n[Insufficient Permissions]\n\n7, 1\n"
    assert parse_compute_apps(output) == {1234: 3072 * MIB, 7: MIB}


def fake_nvidia_smi(directory: Path, lines: list[str]) -> Path:
    """An ``nvidia-smi`` that prints ``lines`` and counts its runs in ``runs``."""
    script = directory / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        f'echo run >> "{directory / "runs"}"\n'
        f"printf '{''.join(line + chr(92) + 'n' for line in lines)}'\n"
    )
    script.chmod(0o755)
    return directory / "runs"


def test_an_instances_tree_adds_up_and_one_reading_serves_every_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    master = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
         "'import time; time.sleep(30)']); time.sleep(30)"])
    try:
        process = psutil.Process(master.pid)
        while not process.children():
            pass
        (worker,) = process.children()
        runs = fake_nvidia_smi(tmp_path, [f"{master.pid}, 100", f"{worker.pid}, 400",
                                          "1, 5000"])
        monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
        meter = GpuMemoryMeter(max_age=60)
        assert meter.held_by(tree_pids(process)) == 500 * MIB
        assert meter.held_by([worker.pid]) == 400 * MIB
        assert runs.read_text().count("run") == 1
    finally:
        for child in psutil.Process(master.pid).children(recursive=True):
            child.kill()
        master.kill()
        master.wait()


def test_without_nvidia_smi_nothing_is_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert GpuMemoryMeter().held_by([os.getpid()]) == 0

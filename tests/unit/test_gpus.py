"""Where a profile's GPUs come from: what each runner finds (``nvidia-smi -L``, device
files, a Docker engine's runtimes and CDI devices) and what an instance then gets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shipyard_runners import Profile
from shipyard_runners.gpus import (
    GpuPlan,
    engine_gpus,
    gpu_plan,
    gpus_on_this_machine,
    listed_gpus,
)
from shipyard_sdk.errors import RunnerError

GPU = Profile("gpu", cpu=8, memory_bytes=1, gpu=1)
GPU_OR_CPU = Profile("gpu", cpu=8, memory_bytes=1, gpu=1, allow_cpu_fallback=True)


def test_a_profile_without_gpus_needs_none() -> None:
    assert gpu_plan(Profile("small", 1, 1), "", "this machine") == GpuPlan(gpus=0)


def test_where_a_gpu_is_found_the_profile_gets_its_gpus() -> None:
    plan = gpu_plan(GPU, "2 GPU(s) (nvidia-smi -L)", "this machine")
    plan.check()
    assert (plan.gpus, plan.on_cpu) == (1, False)
    assert plan.note == "profile 'gpu' asks for 1 GPU(s); this machine has 2 GPU(s) (nvidia-smi -L)"


def test_without_a_gpu_an_instance_does_not_start_and_the_reason_says_how_to_allow_cpu() -> None:
    plan = gpu_plan(GPU, "", "this machine")
    assert "no GPU was found on this machine: its instances will not start" in plan.note
    with pytest.raises(RunnerError, match=re.escape(
        "profile 'gpu' asks for 1 GPU(s) and no GPU was found on this machine; "
        "set allow_cpu_fallback: true on the profile to run it on CPU"
    )):
        plan.check()


def test_without_a_gpu_a_profile_that_allows_it_runs_on_cpu() -> None:
    plan = gpu_plan(GPU_OR_CPU, "", "the Docker engine")
    plan.check()
    assert (plan.gpus, plan.on_cpu) == (0, True)
    assert plan.note == ("profile 'gpu' asks for 1 GPU(s) and no GPU was found on the Docker "
                         "engine: it runs on CPU (allow_cpu_fallback)")


def test_nvidia_smi_lists_one_gpu_a_line() -> None:
    output = (
        "GPU 0: NVIDIA H200 (UUID: GPU-5d1e0c2a-0000-0000-0000-000000000000)\n"
        "  MIG 1g.18gb Device 0: (UUID: MIG-0000)\n"
        "GPU 1: NVIDIA H200 (UUID: GPU-5d1e0c2a-0000-0000-0000-000000000001)\n"
    )
    assert listed_gpus(output) == 2
    assert listed_gpus("No devices were found\n") == 0


def test_without_nvidia_smi_the_device_files_tell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools-here"))
    assert gpus_on_this_machine(tmp_path) == ""
    for name in ("nvidiactl", "nvidia-uvm", "nvidia0", "nvidia1"):
        (tmp_path / name).touch()
    assert gpus_on_this_machine(tmp_path) == f"{tmp_path}/nvidia0, {tmp_path}/nvidia1"


def test_nvidia_smi_is_asked_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    fake = tools / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA A100 (UUID: GPU-1)'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tools))
    assert gpus_on_this_machine(tmp_path / "dev") == "1 GPU(s) (nvidia-smi -L)"
    # One that fails (no driver loaded) counts for nothing.
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed'\nexit 9\n")
    assert gpus_on_this_machine(tmp_path / "dev") == ""


def test_an_engine_offers_gpus_through_its_nvidia_runtime_or_cdi_devices() -> None:
    # ``docker info`` of an engine started with its default flags, trimmed.
    plain = {"NCPU": 2, "Runtimes": {"io.containerd.runc.v2": {"path": "runc"},
                                     "runc": {"path": "runc"}}, "CDISpecDirs": None}
    assert engine_gpus(plain) == ""
    nvidia = {**plain, "Runtimes": {**plain["Runtimes"],
                                    "nvidia": {"path": "nvidia-container-runtime"}}}
    assert engine_gpus(nvidia) == "the 'nvidia' runtime"
    cdi = {**plain, "DiscoveredDevices": [{"Source": "cdi", "ID": "nvidia.com/gpu=0"},
                                          {"Source": "cdi", "ID": "vendor.com/fpga=0"}]}
    assert engine_gpus(cdi) == "CDI devices nvidia.com/gpu=0"

from pathlib import Path

import pytest

from shipyard.domain.environments import EnvironmentCatalog, parse_size
from shipyard.errors import InvalidInput, UnknownEnvironment
from shipyard.resources import environments_file
from shipyard.supervisor.runner_choice import profile_of


def test_bundled_profiles() -> None:
    catalog = EnvironmentCatalog.load(environments_file())
    assert catalog.default == "small"
    small, large, gpu = (catalog.get(n) for n in ("small", "large", "gpu"))
    assert (small.cpu, small.memory_bytes, small.gpu) == (1, 4 * 1024**3, 0)
    assert (large.cpu, large.memory_bytes, large.gpu) == (4, 16 * 1024**3, 0)
    assert (gpu.cpu, gpu.memory_bytes, gpu.gpu, gpu.gpu_memory_bytes) == (
        8, 40 * 1024**3, 1, 16 * 1024**3
    )
    assert all(p.base_image for p in (small, large, gpu))
    assert catalog.get(None) == small


def test_unknown_profile_lists_known_ones() -> None:
    catalog = EnvironmentCatalog.load(environments_file())
    with pytest.raises(UnknownEnvironment, match="'huge'; known: gpu, large, small"):
        catalog.get("huge")


@pytest.mark.parametrize(
    ("text", "size"),
    [("4GiB", 4 * 1024**3), ("512MiB", 512 * 1024**2), ("1G", 10**9), (2048, 2048), ("10", 10)],
)
def test_parse_size(text: object, size: int) -> None:
    assert parse_size(text) == size


def test_parse_size_rejects_nonsense() -> None:
    with pytest.raises(InvalidInput, match="lots"):
        parse_size("lots")


def test_profile_missing_a_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "environments.yaml"
    path.write_text("profiles:\n  tiny:\n    cpu: 1\n")
    with pytest.raises(InvalidInput, match="'tiny' is missing 'memory'"):
        EnvironmentCatalog.load(path)


def test_a_gpu_profile_may_allow_running_on_cpu(tmp_path: Path) -> None:
    path = tmp_path / "environments.yaml"
    path.write_text(
        "profiles:\n"
        "  gpu:\n    cpu: 1\n    memory: 1GiB\n    gpu: 1\n"
        "  gpu-or-cpu:\n    cpu: 1\n    memory: 1GiB\n    gpu: 1\n    allow_cpu_fallback: true\n"
    )
    catalog = EnvironmentCatalog.load(path)
    assert catalog.get("gpu").allow_cpu_fallback is False
    assert catalog.get("gpu-or-cpu").allow_cpu_fallback is True
    assert catalog.get("gpu-or-cpu").to_dict()["allow_cpu_fallback"] is True
    assert profile_of(catalog.get("gpu-or-cpu")).allow_cpu_fallback is True
    assert EnvironmentCatalog.load(environments_file()).get("gpu").allow_cpu_fallback is False


def test_allow_cpu_fallback_must_be_true_or_false(tmp_path: Path) -> None:
    path = tmp_path / "environments.yaml"
    path.write_text("profiles:\n  gpu:\n    cpu: 1\n    memory: 1GiB\n    gpu: 1\n"
                    "    allow_cpu_fallback: sometimes\n")
    with pytest.raises(InvalidInput, match="'gpu': 'allow_cpu_fallback' must be true or false"):
        EnvironmentCatalog.load(path)

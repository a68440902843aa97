"""Building base images: ``mmdebstrap`` into a tarball, ``docker import``, then a label.

One root filesystem is made per distinct (suite, packages) and imported once per recipe
that uses it. The imported image gets the recipe's variables as ``--change ENV`` and is
then labelled (``docker import`` cannot set labels) by a one-line build, so that Shipyard
can tell its base images from anyone else's.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path

import docker

from shipyard.errors import BuildFailed, InvalidInput
from shipyard.images.recipes import RECIPES, BaseImageRecipe
from shipyard_runners import LogSink, run
from shipyard_runners.containers import Engine, engine_errors
from shipyard_runners.containers import labels as label

__all__ = ["BASE_KIND", "base_images", "build_base_images", "debian_mirror", "recipes_for"]

BASE_KIND = "base"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
_MMDEBSTRAP_TIMEOUT = 30 * 60.0
_SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))


def debian_mirror(sources: Iterable[Path] = _SOURCES) -> str:
    """The Debian mirror apt uses on this machine, else Debian's own redirector."""
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            line = line.strip()
            found = re.match(r"^URIs:\s*(\S+/debian)/?$", line) or re.match(
                r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+/debian)/?\s", line
            )
            if found:
                return found.group(1)
    return DEFAULT_MIRROR


def recipes_for(names: Iterable[str]) -> list[BaseImageRecipe]:
    chosen = []
    for name in names:
        if name not in RECIPES:
            raise InvalidInput(
                f"no recipe for base image {name!r}; Shipyard can build "
                f"{', '.join(sorted(RECIPES))}: build other images yourself"
            )
        chosen.append(RECIPES[name])
    return chosen


def _make_rootfs(recipe: BaseImageRecipe, mirror: str, target: Path, log: LogSink) -> None:
    binary = shutil.which("mmdebstrap")
    if binary is None:
        raise BuildFailed(
            "mmdebstrap is not installed; install it with `apt-get install mmdebstrap`"
        )
    run(
        [binary, "--variant=minbase", f"--include={','.join(recipe.packages)}",
         recipe.suite, str(target), mirror],
        log, what="making the root filesystem with mmdebstrap", timeout=_MMDEBSTRAP_TIMEOUT,
    )


def _import(client: docker.DockerClient, rootfs: Path, recipe: BaseImageRecipe,
            log: LogSink) -> None:
    staging = f"shipyard/base-import:{uuid.uuid4().hex[:12]}"
    repository, tag = staging.split(":")
    changes = [f"ENV {name}={value}" for name, value in recipe.env.items()]
    changes.append("CMD [\"python3\"]")
    log(f"importing {rootfs.name} into the engine")
    with engine_errors(f"importing the root filesystem of {recipe.name}", BuildFailed):
        client.api.import_image_from_file(str(rootfs), repository=repository, tag=tag,
                                          changes=changes)
        labels = {label.MANAGED: "true", label.KIND: BASE_KIND,
                  "io.shipyard.python": recipe.python, "io.shipyard.suite": recipe.suite}
        dockerfile = f"FROM {staging}\nLABEL " + " ".join(
            f"{json.dumps(name)}={json.dumps(value)}" for name, value in labels.items()
        ) + "\n"
        try:
            for message in client.api.build(
                fileobj=io.BytesIO(dockerfile.encode()), tag=recipe.name, rm=True,
                forcerm=True, decode=True,
            ):
                if "error" in message:
                    raise BuildFailed(f"labelling {recipe.name} failed: {message['error']}")
                if "stream" in message and message["stream"].strip():
                    log(message["stream"].rstrip("\n"))
        finally:
            # The tag only: the imported layer stays as the labelled image's parent.
            client.images.remove(staging, noprune=True)
    log(f"built base image {recipe.name}")


def build_base_images(recipes: list[BaseImageRecipe], mirror: str, log: LogSink,
                      engine: Engine | None = None) -> None:
    """Build ``recipes``, one root filesystem per distinct (suite, packages)."""
    client = (engine or Engine()).client(BuildFailed)
    groups: dict[tuple[str, tuple[str, ...]], list[BaseImageRecipe]] = {}
    for recipe in recipes:
        groups.setdefault(recipe.rootfs_key, []).append(recipe)
    for group in groups.values():
        with tempfile.TemporaryDirectory(prefix="shipyard-rootfs-") as scratch:
            rootfs = Path(scratch) / "rootfs.tar"
            log(f"making a {group[0].suite} root filesystem from {mirror} for "
                f"{', '.join(recipe.name for recipe in group)}")
            _make_rootfs(group[0], mirror, rootfs, log)
            for recipe in group:
                _import(client, rootfs, recipe, log)


def base_images(engine: Engine | None = None) -> list[dict[str, str]]:
    """Shipyard's base images on the engine: name, id, created."""
    client = (engine or Engine()).client()
    with engine_errors("listing base images"):
        found = client.images.list(filters={"label": [f"{label.MANAGED}=true",
                                                      f"{label.KIND}={BASE_KIND}"]})
    return [
        {"name": ", ".join(image.tags) or "<untagged>", "id": image.short_id,
         "created": str(image.attrs.get("Created", ""))[:19]}
        for image in found
    ]



"""A replica's secrets as Swarm secrets: one object per secret and replica.

Swarm keeps a secret encrypted in its raft log, sends it only to the node that runs a task
given it, and mounts it there in memory, read-only, at ``/run/secrets/<file>``: the folder
the service's runtime reads them from (``SECRETS_DIR``, as on the docker runner), owned by
the image's service user. Its value is in no service or container description. Secrets
cannot change, so each replica gets objects of its own, named after its instance and
labelled like it; they are removed with its service (a secret in use cannot be removed
before).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping

import docker
import docker.errors
import docker.types

from shipyard_runners.containers import labels as label
from shipyard_runners.containers.dockerfiles import SERVICE_UID
from shipyard_runners.containers.engine import engine_errors
from shipyard_sdk.errors import RunnerError

__all__ = ["SecretObjects"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
READ_ONLY_FOR_OWNER = 0o400


class SecretObjects:
    """The Swarm secrets of one installation's replicas."""

    def __init__(self, installation: str) -> None:
        self.installation = installation

    def make(self, client: docker.DockerClient, instance_id: str, secrets: Mapping[str, str]
             ) -> list[docker.types.SecretReference]:
        """Create a secret per entry of ``secrets`` for replica ``instance_id``; the
        references that mount them as files named after the entries."""
        references: list[docker.types.SecretReference] = []
        for name in secrets:
            if not _NAME.match(name):
                raise RunnerError(f"{name!r} cannot be the name of a secret file")
        try:
            for index, (name, value) in enumerate(sorted(secrets.items())):
                object_name = f"shipyard-{instance_id}-{index}"
                with engine_errors(f"creating the Swarm secret of {name}"):
                    created = client.secrets.create(
                        name=object_name, data=value.encode(),
                        labels=label.installation_labels(self.installation, "secret", **{
                            label.INSTANCE: instance_id}),
                    )
                references.append(docker.types.SecretReference(
                    created.id, object_name, filename=name, uid=str(SERVICE_UID),
                    gid=str(SERVICE_UID), mode=READ_ONLY_FOR_OWNER,
                ))
        except BaseException:
            self.remove(client, instance_id)
            raise
        return references

    def remove(self, client: docker.DockerClient, instance_id: str) -> None:
        """Remove the secrets of replica ``instance_id`` (its service removed first)."""
        self._remove(client, {label.INSTANCE: instance_id})

    def discard_except(self, client: docker.DockerClient, instance_ids: set[str]) -> int:
        """Remove the secrets of replicas not in ``instance_ids``; how many went."""
        return self._remove(client, {}, keep=instance_ids)

    def _remove(self, client: docker.DockerClient, more: Mapping[str, str],
                keep: set[str] | None = None) -> int:
        removed = 0
        with engine_errors("removing Swarm secrets"):
            for secret in client.secrets.list(
                    filters=label.installation_filter(self.installation, more)):
                labels = secret.attrs.get("Spec", {}).get("Labels") or {}
                if keep is not None and labels.get(label.INSTANCE) in keep:
                    continue
                with contextlib.suppress(docker.errors.NotFound):
                    secret.remove()
                    removed += 1
        return removed

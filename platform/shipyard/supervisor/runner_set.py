"""Every runner of one installation behind the one ``Runner`` protocol.

A service may name its runner (``local``, ``docker``); one that names none is built on the
installation's (``settings.runner``). Builds go to the runner the spec names, and
everything after a build to the runner its artifact or instance handle names, so
generations built by different runners live side by side. Runners are made on first use:
an installation that never uses docker never connects to an engine. Each control-plane
process holds one: the supervisor for its builds and instances, the API for instance logs
(``ControlPlane.runners``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from shipyard.errors import InvalidInput
from shipyard.settings import Settings
from shipyard.supervisor.runner_choice import RUNNERS, runner_named
from shipyard_runners import (
    NO_SECRETS,
    AppRoutes,
    Artifact,
    BuildSpec,
    InstanceHandle,
    LogSink,
    Profile,
    Runner,
    State,
    Usage,
)

__all__ = ["RunnerSet"]


class RunnerSet:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = settings.runner
        self._runners: dict[str, Runner] = {}
        self._lock = threading.Lock()
        if self.name not in RUNNERS:  # an unknown default fails now
            raise InvalidInput(f"unknown runner {self.name!r}; known: {', '.join(RUNNERS)}")

    def get(self, name: str) -> Runner:
        """The runner ``name`` of this installation."""
        with self._lock:
            if name not in self._runners:
                self._runners[name] = runner_named(name, self.settings)
            return self._runners[name]

    def build(self, spec: BuildSpec, log: LogSink) -> Artifact:
        return self.get(spec.runner or self.name).build(spec, log)

    def routes(self, artifact: Artifact, log: LogSink) -> AppRoutes:
        return self.get(artifact.runner).routes(artifact, log)

    def start(self, artifact: Artifact, profile: Profile, env: Mapping[str, str],
              secrets: Mapping[str, str] = NO_SECRETS) -> InstanceHandle:
        return self.get(artifact.runner).start(artifact, profile, env, secrets)

    def health(self, handle: InstanceHandle) -> State:
        return self.get(handle.runner).health(handle)

    def stop(self, handle: InstanceHandle, grace: float = 30.0) -> None:
        self.get(handle.runner).stop(handle, grace)

    def adopt(self, handle: InstanceHandle) -> bool:
        return handle.runner in RUNNERS and self.get(handle.runner).adopt(handle)

    def logs(self, handle: InstanceHandle, tail: int | None = None) -> str:
        return self.get(handle.runner).logs(handle, tail)

    def usage(self, handle: InstanceHandle) -> Usage:
        return self.get(handle.runner).usage(handle)

    def exists(self, artifact: Artifact) -> bool:
        return self.get(artifact.runner).exists(artifact)

    def remove(self, artifact: Artifact) -> None:
        self.get(artifact.runner).remove(artifact)

    def discard_unfinished(self) -> None:
        """In the installation's runner and every other one made so far."""
        self.get(self.name)
        with self._lock:
            runners = list(self._runners.values())
        for runner in runners:
            runner.discard_unfinished()

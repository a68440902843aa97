"""The api process: the control-plane app under gunicorn, on a socket it inherits.

Started by ``shipyard up`` as ``python -m shipyard.api.process --fd N``; the resolved
settings arrive as JSON in ``SHIPYARD_RESOLVED_SETTINGS`` so that this process sees exactly
what the parent resolved from flags, file and environment.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from shipyard.api.app import create_app
from shipyard.settings import RESOLVED_SETTINGS_VAR, Settings

__all__ = ["API_KEEP_ALIVE", "RESOLVED_SETTINGS_VAR", "ApiApplication"]

API_KEEP_ALIVE = 75



class ApiApplication(BaseApplication):
    def __init__(self, settings: Settings, fd: int) -> None:
        self.settings = settings
        self.fd = fd
        super().__init__()

    def load_config(self) -> None:
        options: dict[str, Any] = {
            "bind": [f"fd://{self.fd}"],
            "workers": self.settings.api_workers,
            # Threads, so that a client following a build log does not hold a whole worker.
            "worker_class": "gthread",
            "threads": 8,
            # Longer than the gateway keeps an idle pooled connection (15 s), so that the
            # gateway, never gunicorn, ends one (its default is 2 s): a request is never
            # sent on a connection that gunicorn is closing at that moment.
            "keepalive": API_KEEP_ALIVE,
            "graceful_timeout": 10,
            "timeout": 60,
            "errorlog": "-",
            "loglevel": "warning",
            "proc_name": "shipyard-api",
            # gunicorn 23+ opens a control socket at one fixed path under $HOME; two
            # control planes (or tests) would take it from each other.
            "control_socket_disable": True,
        }
        for key, value in options.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return create_app(self.settings)


def main() -> None:
    parser = argparse.ArgumentParser(prog="shipyard-api")
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args()
    settings = Settings.from_json(os.environ[RESOLVED_SETTINGS_VAR])
    ApiApplication(settings, args.fd).run()


if __name__ == "__main__":
    main()

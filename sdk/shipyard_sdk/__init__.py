"""Shipyard's SDK: the client, the shared error tree, and the runtime every service runs on.

Kept small on purpose: it is copied into every service's environment, so importing the
package imports nothing else; ``Client`` (and requests with it) loads on first use.

    from shipyard_sdk import Client
    Client("http://127.0.0.1:8080").user_services.invoke("post", "/add-numbers",
                                                         "add-numbers", {"num1": 2, "num2": 5})
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard_sdk.client import Client

__all__ = ["Client", "errors", "user_services"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "Client":
        from shipyard_sdk.client import Client

        return Client
    if name in ("errors", "user_services"):
        import importlib

        return importlib.import_module(f"shipyard_sdk.{name}")
    raise AttributeError(f"module 'shipyard_sdk' has no attribute {name!r}")

"""Shipyard's error tree (defined once, in the SDK, so clients raise the same classes)."""

from shipyard_sdk.errors import *  # noqa: F403
from shipyard_sdk.errors import __all__  # noqa: F401

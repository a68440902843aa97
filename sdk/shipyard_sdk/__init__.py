"""Shipyard's SDK: the shared error tree and the runtime every service runs on.

Kept small on purpose: it is copied into every service's environment, so importing it
imports nothing else.
"""

__all__ = ["errors"]
__version__ = "0.1.0"

"""``python -m shipyard_sdk.runtime.check [--routes OUTPUT]``: import the app as an
instance would.

Exits 0 when the app imports; otherwise prints the traceback to stderr and exits 1, so that
code which does not import fails its build with the traceback in the build log. With
``--routes``, it also writes the app's routes to ``OUTPUT`` as ``shipyard_sdk.runtime.routes``
does: a build imports the app once for both.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from shipyard_sdk.runtime.loader import app_location, load_app
from shipyard_sdk.runtime.routes import write_route_list

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and (len(args) != 2 or args[0] != "--routes"):
        print("usage: python -m shipyard_sdk.runtime.check [--routes OUTPUT]", file=sys.stderr)
        return 2
    module, attribute = app_location(os.environ)
    try:
        app = load_app(os.environ)
    except (Exception, SystemExit):
        # The traceback comes last: its final line, the exception, is the build's reason.
        print(f"the app {module}:{attribute} does not import:", file=sys.stderr)
        traceback.print_exc()
        return 1
    print(f"the app {module}:{attribute} imports")
    if args:
        print(write_route_list(app, f"{module}:{attribute}", Path(args[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())

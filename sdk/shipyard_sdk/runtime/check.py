"""``python -m shipyard_sdk.runtime.check``: import the app as an instance would.

Exits 0 when the app imports; otherwise prints the traceback to stderr and exits 1, so that
code which does not import fails its build with the traceback in the build log.
"""

from __future__ import annotations

import os
import sys
import traceback

from shipyard_sdk.runtime.loader import app_location, load_app

__all__ = ["main"]


def main() -> int:
    module, attribute = app_location(os.environ)
    try:
        load_app(os.environ)
    except (Exception, SystemExit):
        # The traceback comes last: its final line, the exception, is the build's reason.
        print(f"the app {module}:{attribute} does not import:", file=sys.stderr)
        traceback.print_exc()
        return 1
    print(f"the app {module}:{attribute} imports")
    return 0


if __name__ == "__main__":
    sys.exit(main())

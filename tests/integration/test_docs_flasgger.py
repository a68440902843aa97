"""A service written for flasgger, deployed with flasgger in its package list: Shipyard's
document has the operations flasgger's own ``/apispec_1.json`` gives (after the OpenAPI 3
upgrade), and the service's own flasgger pages keep working through the gateway, in
Chromium too."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import RunningShipyard, start_shipyard
from tests.flasgger_comparison import assert_same_as_flasgger
from tests.integration.test_docs import CHROMIUM, launch_chromium

pytestmark = pytest.mark.slow

SERVICE = Path(__file__).parents[1] / "fixtures" / "services" / "flasgger-maths"
MOUNT = "/user-services/invoke/maths"


@pytest.fixture(scope="module")
def maths(tmp_path_factory: pytest.TempPathFactory, module_database_url: str
          ) -> Iterator[RunningShipyard]:
    folder = tmp_path_factory.mktemp("flasgger")
    shipyard = start_shipyard(folder / "home", database_url=module_database_url)
    try:
        code = folder / "maths"
        shutil.copytree(SERVICE, code)
        (code / "shipyard.yaml").write_text("name: maths\npackages: [flasgger]\n")
        deployed = shipyard.cli("deploy", str(code))
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        yield shipyard
    finally:
        shipyard.stop()


def test_the_document_has_the_operations_flasgger_gives(maths: RunningShipyard) -> None:
    theirs = maths.http.get(f"{maths.url}{MOUNT}/apispec_1.json", timeout=30)
    assert theirs.status_code == 200, theirs.text
    swagger2 = theirs.json()
    ours = maths.http.get(f"{maths.url}/api/v1/services/maths/openapi.json", timeout=30).json()
    assert assert_same_as_flasgger(swagger2, ours) == 3
    log = maths.cli("logs", "maths").stdout
    assert not [line for line in log.splitlines()
                if line.startswith("warning: ") and "/apidocs" not in line], log


def test_the_services_own_flasgger_pages_work_through_the_gateway(
    maths: RunningShipyard,
) -> None:
    page = maths.http.get(f"{maths.url}{MOUNT}/apidocs/", timeout=30)
    assert page.status_code == 200, page.text
    # Its links lead back through the gateway, where the service is mounted.
    assert f"{MOUNT}/flasgger_static/swagger-ui-bundle.js" in page.text
    assert f"{MOUNT}/apispec_1.json" in page.text
    asset = maths.http.get(f"{maths.url}{MOUNT}/flasgger_static/swagger-ui-bundle.js",
                           timeout=30)
    assert asset.status_code == 200 and len(asset.content) > 100_000
    redirected = maths.http.get(f"{maths.url}{MOUNT}/apidocs", timeout=30,
                                allow_redirects=False)
    assert urlsplit(redirected.headers["Location"]).path == f"{MOUNT}/apidocs/"


def test_a_sandboxed_page_reads_a_public_services_answers_and_no_other(
    maths: RunningShipyard,
) -> None:
    """A service's page runs sandboxed (Origin: null): it may read a GET or HEAD answer of
    a public service, as any caller may, and nothing else."""
    spec_url = f"{maths.url}{MOUNT}/apispec_1.json"
    null = {"Origin": "null"}

    def allowed(method: str) -> str | None:
        answer = maths.http.request(method, spec_url, headers=null, timeout=30)
        return answer.headers.get("Access-Control-Allow-Origin")

    assert allowed("GET") is None  # project access: signed calls only
    maths.set_access_level("maths", "public")
    try:
        assert allowed("GET") == "null" and allowed("HEAD") == "null"
        assert allowed("POST") is None
        plain = maths.http.get(spec_url, timeout=30)
        assert "Access-Control-Allow-Origin" not in plain.headers
        assert "Access-Control-Allow-Credentials" not in plain.headers
    finally:
        maths.set_access_level("maths", "project")


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium (.ci/run installs it)",
)
def test_the_services_flasgger_page_shows_its_operations_in_a_browser(
    maths: RunningShipyard, tmp_path: Path
) -> None:
    maths.set_access_level("maths", "public")  # a browser signs nothing
    errors: list[str] = []
    try:
        with launch_chromium(tmp_path / "chromium-profile") as browser:
            page = browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(f"{maths.url}{MOUNT}/apidocs/")
            page.wait_for_selector(".opblock", timeout=30_000)
            paths = sorted(element.inner_text().replace("\u200b", "") for element
                           in page.query_selector_all(".opblock-summary-path"))
    finally:
        maths.set_access_level("maths", "project")
    # flasgger's own page script reports "None is not defined" (its template writes a
    # Python None); what matters is that it loaded the document through the gateway.
    assert paths == ["/add", "/multiply", "/subtract/{a}/{b}"], errors

"""The web console in a real Chromium against a real ``shipyard up``: sign in, create
add-numbers from the template, edit it in the editor, save and deploy while the build log
streams, try it (7), a second generation mapped 50/50 then rolled back, an API key made
and revoked, what a non-collaborator sees, CSRF, Swagger's try-it-out with a session,
every page checked with axe-core at desktop and phone sizes within the asset budget.

Each test leaves a screenshot of its last page in ``build/test-artifacts/console/``.
"""

from __future__ import annotations

import contextlib
import gzip
import re
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from tests.conftest import RunningShipyard, start_shipyard
from tests.integration.conftest import live_descendants
from tests.integration.console_browser import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    PHONE,
    ConsoleBrowser,
    Watched,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=(
        "Debian's chromium is not installed at /usr/bin/chromium (.ci/run installs it)"
    )),
]

ADMIN_PASSWORD = "admin's console password"
BOB_PASSWORD = "bob's console password"
ASSET_BUDGET = 400 * 1024
BUILDS_PAGE = re.compile(r".*/console/services/[^/]+/builds(\?.*)?$")
EDITED_LINE = "# Edited in the console."
# Records when (performance.now(), ms) a log on the page grew.
WATCH_LOG_GROWTH = """() => {
  window.logGrowth = [];
  let seen = 0;
  new MutationObserver(() => {
    const log = document.querySelector("[role=log]");
    const size = log ? log.textContent.length : 0;
    if (size > seen) { seen = size; window.logGrowth.push(performance.now()); }
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture(scope="module")
def shipyard(tmp_path_factory: pytest.TempPathFactory, module_database_url: str
             ) -> Iterator[RunningShipyard]:
    running = start_shipyard(tmp_path_factory.mktemp("console") / "home",
                             database_url=module_database_url)
    try:
        with running.sdk() as admin:
            admin.iam.set_password("admin", ADMIN_PASSWORD)
            admin.iam.create_user("bob")
            admin.iam.set_password("bob", BOB_PASSWORD)
        yield running
    finally:
        running.stop()


@pytest.fixture(autouse=True)
def _fail_on_leaked_processes(shipyard: RunningShipyard) -> Iterator[None]:
    """As the suite's leak check, but the instances the module's Shipyard starts for the
    services a test deploys are that Shipyard's to stop (when the module ends)."""
    before = {process.pid for process in live_descendants()}
    yield
    leaked = [process for process in live_descendants()
              if process.pid not in before and not _started_by(process, shipyard)]
    for process in leaked:
        with contextlib.suppress(psutil.Error):
            process.kill()
    assert leaked == [], "left child processes alive"


def _started_by(process: psutil.Process, shipyard: RunningShipyard) -> bool:
    try:
        return shipyard.process.pid in {parent.pid for parent in process.parents()}
    except psutil.Error:
        return False


@pytest.fixture
def console(shipyard: RunningShipyard) -> Iterator[ConsoleBrowser]:
    """A browser of its own for each test: Chromium's helper processes end with it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
        )
        try:
            yield ConsoleBrowser(browser, shipyard.url)
        finally:
            browser.close()


@pytest.fixture
def admin(console: ConsoleBrowser, request: pytest.FixtureRequest) -> Iterator[Watched]:
    """A page signed in as the administrator; no console error nor outside request may
    happen on it."""
    with console.page(request.node.name) as watched:
        watched.goto("/")
        watched.sign_in("admin", ADMIN_PASSWORD)
        yield watched
        assert watched.errors == []
        assert watched.outside == []


def _service(shipyard: RunningShipyard, name: str) -> dict | None:
    answer = shipyard.http.get(f"{shipyard.url}/api/v1/services/{name}", timeout=10)
    return answer.json() if answer.status_code == 200 else None


def _wait_for(condition, timeout: float = 180, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(step)
    raise AssertionError("timed out waiting")


def _live_generations(shipyard: RunningShipyard, name: str) -> list[dict]:
    answer = shipyard.http.get(f"{shipyard.url}/api/v1/services/{name}/generations", timeout=10)
    return answer.json()["generations"]


def _mapping(shipyard: RunningShipyard, name: str) -> dict[str, float]:
    answer = shipyard.http.get(f"{shipyard.url}/api/v1/services/{name}/mapping", timeout=10)
    return {entry["generation"]: entry["proba"] for entry in answer.json()["live"]}


# -- signing in --------------------------------------------------------------------------

def test_signing_in_with_the_keyboard_and_out_again(console: ConsoleBrowser) -> None:
    with console.page("sign-in-and-out") as watched:
        page = watched.page
        watched.goto("/console/services")
        assert watched.serious_violations() == []
        page.get_by_label("User name").fill("admin")
        page.get_by_label("Password").fill("not the password")
        page.keyboard.press("Enter")
        alert = page.get_by_role("alert")
        alert.wait_for()
        assert "wrong" in alert.inner_text()
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.keyboard.press("Enter")
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("button", name="Sign in").wait_for()
        # The session ended on the server: the API refuses the browser now.
        status = page.evaluate("fetch('/api/v1/services').then(r => r.status)")
        assert status == 401
        # A failed sign-in is a 401 the page expected: only that one console message.
        assert [e for e in watched.errors if "401" not in e] == []
        assert watched.outside == []


# -- the main flow -----------------------------------------------------------------------

def test_add_numbers_from_the_template_edited_deployed_with_a_live_log_and_tried(
    admin: Watched, shipyard: RunningShipyard
) -> None:
    page = admin.page
    page.get_by_role("link", name="New service").click()
    template = page.get_by_role("form", name="From a template")
    template.get_by_label("Name").fill("add-numbers")
    template.get_by_role("button", name="Create service").click()
    page.wait_for_url("**/console/services/add-numbers/code")

    page.get_by_role("button", name="app.py", exact=True).click()
    editor = page.get_by_label("Code of app.py")
    editor.wait_for()
    editor.click()
    page.keyboard.press("Control+Home")
    page.keyboard.type(EDITED_LINE + "\n")
    page.evaluate(WATCH_LOG_GROWTH)
    page.get_by_role("button", name="Save and deploy").click()

    page.wait_for_url(BUILDS_PAGE)
    page.get_by_role("log", name="Build log").wait_for()
    _wait_for(lambda: _service(shipyard, "add-numbers")["state"] == "running")
    # The log streamed: it grew at moments far apart while the build ran, rather than
    # arriving whole at its end.
    growth = page.evaluate("window.logGrowth")
    assert growth and growth[-1] - growth[0] > 500, growth
    source = shipyard.http.get(
        f"{shipyard.url}/api/v1/services/add-numbers/files/app.py", timeout=10
    ).text
    assert EDITED_LINE in source

    page.get_by_role("link", name="Try it").click()
    page.get_by_label("num1").fill("2")
    page.get_by_label("num2").fill("5")
    page.get_by_role("button", name="Send").click()
    answer = page.get_by_label("Answer")
    _wait_for(lambda: answer.inner_text().strip() == "7", timeout=30, step=0.2)
    assert admin.serious_violations() == []


def _deployed_add_numbers(shipyard: RunningShipyard, tmp_path: Path) -> None:
    """add-numbers running, made by the CLI when the flow above did not make it."""
    if _service(shipyard, "add-numbers") is None:
        from tests.integration.test_end_to_end import deploy_new
        deploy_new(shipyard, tmp_path, "add-numbers")
    _wait_for(lambda: _service(shipyard, "add-numbers")["state"] == "running")


def test_a_second_generation_shares_traffic_50_50_then_is_rolled_back(
    admin: Watched, shipyard: RunningShipyard, tmp_path: Path
) -> None:
    _deployed_add_numbers(shipyard, tmp_path)
    page = admin.page
    before = {g["tag"] for g in _live_generations(shipyard, "add-numbers")}
    admin.goto("/console/services/add-numbers/code")
    page.get_by_role("button", name="app.py", exact=True).click()
    page.get_by_label("Code of app.py").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\n# A second generation.\n")
    page.get_by_role("button", name="Save and deploy").click()
    page.wait_for_url(BUILDS_PAGE)
    newest = _wait_for(lambda: ({g["tag"] for g in _live_generations(shipyard, "add-numbers")}
                                - before))
    (tag,) = newest
    _wait_for(lambda: _mapping(shipyard, "add-numbers").get(tag) == 1.0)

    page.get_by_role("link", name="Overview").click()
    older = sorted(before, key=lambda t: int(t[1:]))[-1]
    page.get_by_label(f"Share of {older} (%)").fill("50")
    page.get_by_label(f"Share of {tag} (%)").fill("50")
    page.get_by_role("button", name="Save mapping").click()
    _wait_for(lambda: _mapping(shipyard, "add-numbers") == {older: 0.5, tag: 0.5}, timeout=30)
    listed = shipyard.http.get(f"{shipyard.url}/api/v1/services", timeout=10).json()
    (item,) = [s for s in listed["services"] if s["name"] == "add-numbers"]
    assert {e["generation"]: e["proba"] for e in item["mapping"]} == {older: 0.5, tag: 0.5}

    page.get_by_role("button", name="Roll back").click()
    _wait_for(lambda: _mapping(shipyard, "add-numbers") == {older: 1.0}, timeout=60)
    assert admin.serious_violations() == []


def test_the_settings_page_sets_the_services_variables_and_names_its_secrets(
    admin: Watched, shipyard: RunningShipyard
) -> None:
    shipyard.http.post(f"{shipyard.url}/api/v1/services", json={"name": "configured"},
                       timeout=10).raise_for_status()
    page = admin.page
    admin.goto("/console/services/configured/settings")
    variables = page.get_by_label("Variables", exact=True)
    variables.fill("GREETING=hi\n# a comment\nRETRIES=3")
    page.get_by_role("button", name="Save variables").click()
    _wait_for(lambda: (_service(shipyard, "configured") or {}).get("env")
              == {"GREETING": "hi", "RETRIES": "3"}, timeout=30)
    variables.fill("PATH=/tmp")
    page.get_by_role("button", name="Save variables").click()
    page.get_by_text("PATH is reserved").wait_for()
    assert _service(shipyard, "configured")["env"] == {"GREETING": "hi", "RETRIES": "3"}
    # The API's 400 is the one console message, and the page expected it.
    assert [error for error in admin.errors if "400" not in error] == []
    admin.errors.clear()
    shipyard.http.put(f"{shipyard.url}/api/v1/services/configured/secrets/API_TOKEN",
                      json={"value": "never-shown-in-the-console"}, timeout=10).raise_for_status()
    admin.goto("/console/services/configured/settings")
    assert page.get_by_label("Variables", exact=True).input_value() == "GREETING=hi\nRETRIES=3"
    secrets = page.get_by_role("region", name="Secrets")
    secrets.get_by_role("cell", name="API_TOKEN").wait_for()
    assert "never-shown-in-the-console" not in page.content()
    assert admin.serious_violations() == []


def test_an_api_key_is_created_shown_once_and_revoked(
    admin: Watched, shipyard: RunningShipyard
) -> None:
    shipyard.http.post(f"{shipyard.url}/api/v1/services",
                       json={"name": "keyed", "kind": "custom"}, timeout=30)
    page = admin.page
    admin.goto("/console/services/keyed/keys")
    page.get_by_label("Key name").fill("partner")
    page.get_by_role("button", name="Create API key").click()
    secret = page.get_by_label("New API key")
    secret.wait_for()
    shown = secret.inner_text().strip() or secret.input_value()
    assert shown.startswith("sy_")
    listed = shipyard.http.get(f"{shipyard.url}/api/v1/services/keyed/api-keys",
                               timeout=10).json()["api_keys"]
    assert [key["name"] for key in listed] == ["partner"]
    # Shown once: the page drawn again does not have it.
    page.reload()
    page.get_by_role("button", name="Create API key").wait_for()
    assert shown not in page.content()
    page.get_by_role("button", name="Revoke partner").click()
    page.get_by_role("button", name="Confirm revoking partner").click()
    _wait_for(lambda: all(key["revoked_at"] for key in shipyard.http.get(
        f"{shipyard.url}/api/v1/services/keyed/api-keys", timeout=10).json()["api_keys"]),
        timeout=20)
    assert admin.serious_violations() == []


def test_a_non_collaborator_sees_neither_the_service_nor_its_code(
    console: ConsoleBrowser, shipyard: RunningShipyard
) -> None:
    shipyard.http.post(f"{shipyard.url}/api/v1/services",
                       json={"name": "private-one", "kind": "custom"}, timeout=30)
    with console.page("non-collaborator") as watched:
        page = watched.page
        watched.goto("/")
        watched.sign_in("bob", BOB_PASSWORD)
        page.get_by_role("heading", name="Services").wait_for()
        assert page.get_by_role("link", name="private-one").count() == 0
        watched.goto("/console/services/private-one/code")
        page.get_by_role("alert").wait_for()
        assert "may not see" in page.get_by_role("alert").inner_text()
        assert page.locator(".cm-content").count() == 0
        status = page.evaluate(
            "fetch('/api/v1/services/private-one/files/app.py').then(r => r.status)"
        )
        assert status == 403
        # Administration is not for him.
        assert page.get_by_role("link", name="Administration").count() == 0
        assert watched.outside == []


def test_a_change_without_the_csrf_token_is_refused(admin: Watched) -> None:
    page = admin.page
    refused = page.evaluate("""() => fetch('/api/v1/services', {
        method: 'POST', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({name: 'forged', kind: 'custom'})})
      .then(async r => [r.status, (await r.json()).error.message])""")
    assert refused[0] == 403 and "CSRF" in refused[1]
    admin.errors.clear()  # the refused fetch is logged as a failed resource
    made = page.evaluate("""() => fetch('/api/v1/services', {
        method: 'POST', headers: {
          'Content-Type': 'application/json',
          'X-CSRF-Token': document.cookie.match(/shipyard_csrf=([^;]+)/)[1]},
        body: JSON.stringify({name: 'with-token', kind: 'custom'})}).then(r => r.status)""")
    assert made == 201


def test_swagger_try_it_out_works_with_a_session_for_a_service_that_is_not_public(
    admin: Watched, shipyard: RunningShipyard, tmp_path: Path
) -> None:
    _deployed_add_numbers(shipyard, tmp_path)
    assert _service(shipyard, "add-numbers")["access_level"] != "public"
    page = admin.page
    admin.goto("/services/add-numbers/docs")
    page.wait_for_selector(".opblock")
    page.click(".opblock-summary")
    page.click("button.try-out__btn")
    page.click("button.execute")
    answer = ".live-responses-table tr.response "
    status = page.wait_for_selector(answer + ".response-col_status")
    assert status is not None and status.inner_text().strip() == "200"
    assert page.inner_text(answer + ".response-col_description pre").strip() == "7"


def _uploaded_iris(shipyard: RunningShipyard) -> None:
    from tests.integration.test_monitoring import iris_model, metadata

    with shipyard.sdk() as client:
        if not any(model["name"] == "iris" for model in client.models.list()):
            model, baseline = iris_model()
            client.models.upload("iris", model, metadata(baseline))


def _deployed_iris_service(shipyard: RunningShipyard) -> None:
    """The iris model serving as ``iris-species`` (deployed once per run)."""
    _uploaded_iris(shipyard)
    if _service(shipyard, "iris-species") is None:
        with shipyard.sdk() as client:
            client.models.deploy("iris", service="iris-species")
    _wait_for(lambda: (_service(shipyard, "iris-species") or {}).get("state") == "running",
              timeout=600, step=1)


def test_the_try_it_form_of_a_model_service_is_made_of_its_features(
    admin: Watched, shipyard: RunningShipyard
) -> None:
    _deployed_iris_service(shipyard)
    page = admin.page
    admin.goto("/console/services/iris-species/try")
    for feature, value in (("sepal_length", "5.1"), ("sepal_width", "3.5"),
                           ("petal_length", "1.4"), ("petal_width", "0.2")):
        page.get_by_label(feature, exact=True).fill(value)
    page.get_by_role("button", name=re.compile("^(Send|Predict)$")).click()
    answer = page.get_by_label("Answer")
    _wait_for(lambda: "setosa" in answer.inner_text(), timeout=30, step=0.2)
    assert admin.serious_violations() == []


def test_monitoring_charts_follow_the_window_and_bucket_picked(
    admin: Watched, shipyard: RunningShipyard, tmp_path: Path
) -> None:
    _deployed_add_numbers(shipyard, tmp_path)
    url = f"{shipyard.url}/user-services/invoke/add-numbers/add-numbers"
    for _ in range(12):
        assert shipyard.http.post(url, json={"num1": 2, "num2": 5}, timeout=10).json() == 7
    stats = f"{shipyard.url}/api/v1/services/add-numbers/stats"
    _wait_for(lambda: shipyard.http.get(stats, timeout=10).json()["overall"]["total_requests"]
              >= 12,
              timeout=60)
    page = admin.page
    admin.goto("/console/services/add-numbers/monitoring")
    requests_chart = page.get_by_role("figure", name="Requests")
    requests_chart.locator("canvas").first.wait_for()
    page.get_by_label("Bucket", exact=True).select_option(label="Hour")
    page.wait_for_url(re.compile(r".*bucket=PT1H"))
    requests_chart.locator("canvas").first.wait_for()
    page.get_by_label("Window", exact=True).select_option(label="Last 7 days")
    page.wait_for_url(re.compile(r".*range=7d"))
    page.get_by_role("figure", name="Requests").locator("canvas").first.wait_for()
    page.go_back()
    page.wait_for_url(re.compile(r"^(?!.*range=7d).*bucket=PT1H"))
    assert admin.serious_violations() == []


# -- every page --------------------------------------------------------------------------

PAGES = [
    "/", "/console/services/new", "/console/models", "/console/models/iris", "/console/admin",
    *(f"/console/services/add-numbers/{tab}" for tab in (
        "", "code", "builds", "logs", "try", "monitoring", "keys", "settings", "integrate",
    )),
    # A model service's pages differ: its try-it form is made of the model's features, and
    # its monitoring has drift and accuracy sections.
    *(f"/console/services/iris-species/{tab}" for tab in ("", "try", "monitoring", "settings")),
]


# What a page draws does not depend on the database behind it: each run of the module
# (one per database) checks every page at one of the two sizes, and the suite both.
VIEWPORT_ON = {"sqlite": "desktop", "postgresql": "phone"}


def test_every_page_is_accessible_reachable_by_url_and_within_its_budget(
    console: ConsoleBrowser, shipyard: RunningShipyard, tmp_path: Path, database: str,
) -> None:
    viewport = VIEWPORT_ON[database]
    _deployed_add_numbers(shipyard, tmp_path)
    _deployed_iris_service(shipyard)
    problems: dict[str, object] = {}
    heaviest = 0
    with console.page(f"every-page-{viewport}",
                      PHONE if viewport == "phone" else None) as watched:
        watched.goto("/")
        watched.sign_in("admin", ADMIN_PASSWORD)
        for path in PAGES:
            watched.assets.clear()
            watched.goto(path.rstrip("/") or "/")
            watched.page.wait_for_load_state("networkidle")
            watched.page.locator("main h1, main h2").first.wait_for()
            violations = watched.serious_violations()
            if violations:
                problems[path] = violations
            if viewport == "phone" and watched.overflows_horizontally():
                problems[path + " (overflows)"] = True
            weight = watched.compressed_asset_bytes(shipyard.http)
            heaviest = max(heaviest, weight)
            if weight > ASSET_BUDGET:
                problems[path + " (assets)"] = weight
        assert watched.errors == []
        assert watched.outside == []
    print(f"\nheaviest page's scripts and styles: {heaviest / 1024:.0f} KiB compressed "
          f"(budget {ASSET_BUDGET // 1024} KiB)")
    assert problems == {}


def test_the_services_page_draws_200_services(
    console: ConsoleBrowser, shipyard: RunningShipyard
) -> None:
    with shipyard.sdk() as client:
        existing = len(client.services.list())
        for number in range(existing, 200):
            client.services.create({"name": f"load-{number:03d}", "kind": "custom"})
    with console.page("two-hundred-services") as watched:
        watched.goto("/")
        watched.sign_in("admin", ADMIN_PASSWORD)
        page = watched.page
        watched.goto("/console/models")
        page.get_by_role("heading", name="Models").wait_for()
        started = time.perf_counter()
        page.get_by_role("link", name="Services").click()
        page.get_by_role("link", name="load-199").wait_for()
        elapsed = time.perf_counter() - started
        rows = page.locator("main tbody tr").count()
        assert rows >= 200
        assert watched.errors == []
    print(f"\nthe services page drew {rows} services in {elapsed * 1000:.0f} ms")


def test_the_console_s_files_are_compressed_small_enough(shipyard: RunningShipyard) -> None:
    """The files every page loads (the shell's), gzip-compressed, leave room in the
    budget for a page's own modules."""
    shell = requests.get(shipyard.url + "/", timeout=10).text
    assert "<script type=\"module\"" in shell and "http" not in shell.split("<body>")[0]
    entry = requests.get(shipyard.url + "/console/assets/js/main.js", timeout=10).content
    assert len(gzip.compress(entry)) < 20 * 1024

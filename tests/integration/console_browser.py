"""A real Chromium (Debian's, through Playwright's driver) on a running Shipyard's console:
every page watched for console errors and for requests outside the origin, checked with
axe-core, and photographed for the test's artifacts when the test ends."""

from __future__ import annotations

import contextlib
import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Request, Route

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parents[1] / "fixtures" / "vendor" / "axe.min.js"
ARTIFACTS = Path(__file__).parents[2] / "build" / "test-artifacts" / "console"
CHROMIUM_FLAGS = [  # headless comes from playwright
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
BLOCKING = ("serious", "critical")


@dataclass
class Watched:
    """One browser page with what it has done: console errors, requests, assets."""

    page: Page
    origin: str
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    assets: dict[str, str] = field(default_factory=dict)  # url -> resource type

    def goto(self, path: str) -> None:
        self.page.goto(self.origin + path)

    def sign_in(self, user: str, password: str) -> None:
        page = self.page
        if "/console" not in page.url and page.url.rstrip("/") != self.origin:
            self.goto("/")
        page.get_by_label("User name").fill(user)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Sign out").wait_for()

    def serious_violations(self) -> list[str]:
        """What axe-core finds serious or critical on the page as it is now."""
        page = self.page
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(AXE.read_text())
        return page.evaluate(
            """blocking => axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
                 .filter(v => blocking.includes(v.impact))
                 .map(v => v.id + ": " + v.help + " @ " + v.nodes.map(n => n.target.join(" "))
                   .slice(0, 3).join(", ")))""", list(BLOCKING),
        )

    def overflows_horizontally(self) -> bool:
        return self.page.evaluate(
            "document.documentElement.scrollWidth > window.innerWidth + 1"
        )

    def compressed_asset_bytes(self, session: requests.Session) -> int:
        """The scripts and styles this page loaded, gzip-compressed, in bytes."""
        total = 0
        for url, kind in self.assets.items():
            if kind in ("script", "stylesheet"):
                body = session.get(url, timeout=10).content
                total += len(gzip.compress(body, compresslevel=6))
        return total


class ConsoleBrowser:
    def __init__(self, browser: Browser, origin: str) -> None:
        self.browser = browser
        self.origin = origin

    @contextlib.contextmanager
    def page(self, name: str, viewport: dict[str, int] | None = None) -> Iterator[Watched]:
        """A fresh browser context (no cookies) and page; on leaving, the last page is
        saved as ``<name>.png`` among the artifacts, whatever the test's outcome."""
        context = self.browser.new_context(viewport=viewport or DESKTOP)
        page = context.new_page()
        watched = Watched(page, self.origin)
        netloc = urlsplit(self.origin).netloc

        def only_this_origin(route: Route) -> None:
            if urlsplit(route.request.url).netloc == netloc:
                route.continue_()
            else:
                watched.outside.append(route.request.url)
                route.abort()

        def requested(request: Request) -> None:
            watched.assets.setdefault(request.url, request.resource_type)

        page.on("console", lambda m: watched.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: watched.errors.append(str(exc)))
        page.on("request", requested)
        page.route("**/*", only_this_origin)
        try:
            yield watched
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(Exception):
                page.screenshot(path=str(ARTIFACTS / f"{_file_name(name)}.png"), full_page=True)
            context.close()


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[:120]

"""Browser tests: Debian's chromium driven by Playwright at 1366x768, against the portal under a live server.

Skipped with a reason where chromium or Playwright is missing (`apt-get install chromium`; Playwright comes
with requirements-dev.txt and uses that browser, it downloads none).
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("needs Debian's chromium: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs Playwright (requirements-dev.txt)")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop runs beside Django's ORM
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page_as(browser, live_server):
    """A page at 1366x768, logged in to the admin as the given user (password "pw")."""
    pages = []

    def login(username: str):
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        pages.append(page)
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", "pw")
        page.click("input[type=submit]")
        page.wait_for_load_state()
        return page

    yield login
    for page in pages:
        page.close()

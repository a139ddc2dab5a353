"""A live app on loopback and a headless Chromium for the browser tests of the web app's pages.

    live(app)                  the app served by uvicorn in a thread: yields its base URL
    chromium()                 a Playwright browser on Debian's chromium (fails in CI if missing)
    only_this_machine(route)   lets 127.0.0.1 through, aborts (and records in OUTSIDE) anything else
    watch(page)                the console and page errors it logs from now on (a CSP violation is one)
    sign_in(page, base, user)  the login form filled as a person would (passwords: "password-" + user,
                               as tests/ledger_helpers.py makes them)
    shot(page, name)           a full-page screenshot under tests/screenshots/
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn

from zhida.web.server import server_config

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
OUTSIDE: list[str] = []  # every request a page tried to send off this machine


@contextlib.contextmanager
def live(app) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    instance = uvicorn.Server(server_config(app, "127.0.0.1", port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def chromium() -> Iterator:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser tests: chromium is not installed")
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, width: int = 1280, height: int = 900):
    """A fresh context (its own cookies) and page, kept on this machine."""
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    page.route("**/*", only_this_machine)
    return page


def watch(page) -> list[str]:
    """Console errors and page errors of `page` from now on (a CSP violation is logged as a console error)."""
    found: list[str] = []
    page.on("console", lambda message: found.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: found.append(f"pageerror: {error}"))
    return found


def only_this_machine(route) -> None:
    if urlsplit(route.request.url).hostname == "127.0.0.1":
        route.continue_()
    else:
        OUTSIDE.append(route.request.url)
        route.abort()


def sign_in(page, base: str, username: str, password: str | None = None) -> None:
    page.goto(base + "/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password or "password-" + username)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

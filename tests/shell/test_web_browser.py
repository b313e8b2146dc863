"""The dashboard in a real browser: headless Chromium driven by selenium (SPEC 14).

Needs Debian's ``chromium`` and ``chromium-driver``: the fixture installs them with
apt-get when it runs as root and they are missing, and otherwise skips with a loud
reason (these tests are never silently green without a browser)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from daemon_helpers import Daemon, wait_for
from web_helpers import WebServer

pytest.importorskip("starlette", reason="the web extra (pip install -e '.[web]') is not installed")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the test extra has it)")

CHROMIUM = ("chromium", "chromedriver")


def _install_chromium() -> str | None:
    """None when chromium and its driver are there (installed now if need be), else why not."""
    if all(shutil.which(name) for name in CHROMIUM):
        return None
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("apt-get"):
        return "chromium/chromium-driver are missing and cannot be installed here (apt-get as root)"
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=900,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if done.returncode != 0:
            return f"{' '.join(argv)} failed: {done.stderr.strip()[-300:]}"
    return None if all(shutil.which(name) for name in CHROMIUM) else "apt-get installed no chromium"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    problem = _install_chromium()
    if problem:
        pytest.skip(f"BROWSER TESTS SKIPPED: {problem}")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1200,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, WebServer]]:
    daemon = Daemon(tmp_path_factory.mktemp("browser"))
    daemon.write_job("hello", 'schedule = "every 1h"\ncommand = "echo hello"\n')
    daemon.write_job("chatty", 'command = "for i in 1 2 3 4 5; do echo line $i; sleep 0.5; done"\n')
    daemon.write_job("pipe", '[[steps]]\nname = "extract"\ncommand = "sleep 0.3"\n'
                             '[[steps]]\nname = "transform"\ncommand = "sleep 0.3"\nneeds = ["extract"]\n'
                             '[[steps]]\nname = "load"\ncommand = "sleep 0.2"\nneeds = ["transform"]\n')
    with daemon, WebServer(daemon) as web:
        yield daemon, web


def _css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def _text(driver: Any, selector: str) -> str:
    """The text of the element ``selector`` names now. The page's live script replaces
    elements as the run changes, so an element found a moment ago may be gone by the
    time it is read: then it is looked up again."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(100):
        try:
            return _css(driver, selector)[0].text
        except StaleElementReferenceException:
            continue
    raise AssertionError(f"{selector} was replaced 100 times in a row while being read")


def _login(driver: Any, web: WebServer) -> None:
    driver.get(web.url)  # the printed URL: sets the session cookie, then drops the token
    wait_for(lambda: "token=" not in driver.current_url, timeout=10, message="the redirect")


def test_the_overview_shows_the_jobs(browser: Any, site: tuple[Daemon, WebServer]) -> None:
    _, web = site
    _login(browser, web)
    browser.get(web.base + "/")
    names = {row.get_attribute("data-name") for row in _css(browser, "#jobs tr.job")}
    assert names == {"hello", "chatty", "pipe"}
    assert "every 1h" in browser.find_element("id", "jobs").text


def test_run_now_starts_a_run_that_appears_in_history(browser: Any, site: tuple[Daemon, WebServer]) -> None:
    _, web = site
    _login(browser, web)
    before = {run["id"] for run in web.runs("hello")}
    browser.get(web.base + "/jobs/hello")
    _css(browser, "#run-now")[0].click()
    wait_for(lambda: _css(browser, "#notice"), timeout=10, message="the notice")
    assert "requested a run of hello" in _css(browser, "#notice")[0].text
    new = wait_for(lambda: [r for r in web.runs("hello") if r["id"] not in before and r["state"] == "succeeded"],
                   timeout=15, message="the run")
    # the page refreshes itself from the event stream: the run shows in its history table
    wait_for(lambda: _css(browser, f'#history tr[data-id="{new[0]["id"]}"]'), timeout=10,
             message="the run in the page's history")


def test_the_run_page_follows_a_live_log(browser: Any, site: tuple[Daemon, WebServer]) -> None:
    _, web = site
    _login(browser, web)
    before = {run["id"] for run in web.runs("chatty")}
    assert web.post("/api/v1/jobs/chatty/runs").status == 202
    run = wait_for(lambda: [r for r in web.runs("chatty") if r["id"] not in before and r["state"] == "running"],
                   timeout=10, message="the run to start")[0]
    browser.get(f"{web.base}/runs/{run['id']}")
    first = _text(browser, "#log")
    if web.get(f"/api/v1/runs/{run['id']}").json()["state"] == "running":
        assert "line 5" not in first  # opened while it runs (unless the machine lagged)
    wait_for(lambda: "line 5" in _text(browser, "#log"), timeout=15, message="the followed log")
    assert [line for line in _text(browser, "#log").splitlines() if line] == [
        f"line {i}" for i in range(1, 6)]
    wait_for(lambda: _text(browser, "#run-state") == "succeeded", timeout=10, message="the final state")


def test_the_gantt_of_a_flow_run_has_one_bar_per_step_and_the_graph_one_box(browser: Any, site: tuple[Daemon, WebServer]) -> None:
    _, web = site
    _login(browser, web)
    assert web.post("/api/v1/jobs/pipe/runs").status == 202
    run = wait_for(lambda: [r for r in web.runs("pipe") if r["state"] == "succeeded"], timeout=15,
                   message="the flow run")[0]
    browser.get(f"{web.base}/runs/{run['id']}")
    bars = _css(browser, "svg.gantt rect.bar")
    assert sorted(bar.get_attribute("data-step") for bar in bars) == ["extract", "load", "transform"]
    xs = {bar.get_attribute("data-step"): float(bar.get_attribute("x")) for bar in bars}
    assert xs["extract"] < xs["transform"] < xs["load"]  # each waits for the one it needs
    nodes = {node.get_attribute("data-step"): node.get_attribute("data-state")
             for node in _css(browser, "svg.graph g.node")}
    assert nodes == {"extract": "succeeded", "transform": "succeeded", "load": "succeeded"}


def test_one_column_on_a_phone(browser: Any, site: tuple[Daemon, WebServer]) -> None:
    _, web = site
    _login(browser, web)
    browser.set_window_size(390, 844)
    try:
        browser.get(web.base + "/")
        cells = _css(browser, "#jobs tr.job")[0].find_elements("css selector", "td")
        lefts = {round(cell.location["x"]) for cell in cells}
        assert len(lefts) == 1, lefts  # the cells stack
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 400
    finally:
        browser.set_window_size(1200, 900)

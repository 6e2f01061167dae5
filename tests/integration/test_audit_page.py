"""The HTML audit report as a reviewer sees it: headless Chromium, offline, driven by selenium.

Skipped (saying why) when Chromium or its driver is missing on a developer's machine; under
CI=true it must run, and `./run.sh test` installs them (Debian: chromium, chromium-driver).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anonymiser.demo import demo_rules_dir
from anonymiser.rules import load_rules
from anonymiser.rules.audit import AuditReport, build_audit
from anonymiser.rules.audit_render import render_html

INJECTED = '<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2">'
EXTRA_RULES = f"""tables:
  public.zz_injection:
    columns:
      note: {{strategy: redact, reason: {json.dumps(INJECTED)}}}
"""
# offline and quiet: nothing of Chromium's own reaches for the network either
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # tests run as root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


def _browser_and_driver() -> tuple[str, str] | None:
    browser = next(
        (p for n in ("chromium", "google-chrome") if (p := shutil.which(n)) is not None), None
    )
    driver = shutil.which("chromedriver")
    if driver is None and os.environ.get("CHROMEWEBDRIVER"):
        candidate = Path(os.environ["CHROMEWEBDRIVER"]) / "chromedriver"
        driver = str(candidate) if candidate.exists() else None
    return (browser, driver) if browser and driver else None


def _missing(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}: CI must run the audit page test (./run.sh test installs it)")
    pytest.skip(f"{why} (Debian: apt-get install chromium chromium-driver; ./run.sh test does)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("the selenium package is not installed")
    found = _browser_and_driver()
    if found is None:
        _missing("chromium or chromedriver is not installed")
    assert found is not None
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # an explicit driver path: selenium-manager is never asked to find or download one
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, AuditReport]:
    rules = tmp_path_factory.mktemp("rules")
    shutil.copytree(demo_rules_dir(), rules, dirs_exist_ok=True)
    (rules / "zz_injection.yaml").write_text(EXTRA_RULES)
    report = build_audit(load_rules(rules))
    path = tmp_path_factory.mktemp("report") / "audit.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path, report


def _visible_rows(driver: Any) -> list[list[str]]:
    """The rows a reviewer sees (laid out, not hidden), as rendered cell texts; one round trip."""
    rows: list[list[str]] = driver.execute_script(
        "return Array.from(document.querySelectorAll('#columns tbody tr'))"
        ".filter(function (r) { return r.getClientRects().length > 0; })"
        ".map(function (r) { return Array.from(r.cells).map(function (c) {"
        " return c.innerText.trim(); }); });"
    )
    return rows


def test_reviewer_sees_every_column_sorts_filters_and_injected_markup_as_text(
    browser: Any, page: tuple[Path, AuditReport]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    path, report = page
    browser.get(path.as_uri())
    browser.get_log("performance")  # only requests made from here on are checked below
    browser.refresh()
    rows = _visible_rows(browser)
    assert len(rows) == len(report.rows)
    shown = browser.find_element(By.ID, "shown")
    assert shown.text == f"{len(report.rows)} of {len(report.rows)} columns shown"

    by_column = {(r[0], r[1]): r for r in rows}
    email = by_column[("public.trainees", "email")]
    assert email[2:4] == ["fake", "provider=email"]
    assert email[-1] == "direct identifier; unique"
    # injected markup is shown as text and never runs
    assert by_column[("public.zz_injection", "note")][-1] == INJECTED
    assert browser.execute_script("return window.pwned === undefined") is True
    assert browser.find_elements(By.CSS_SELECTOR, "#columns tbody img, #columns tbody script") == []

    # clicking a header sorts by it, clicking again reverses
    header = browser.find_element(By.XPATH, "//table[@id='columns']//th[button='column']")
    header.find_element(By.TAG_NAME, "button").click()
    names = [r[1] for r in _visible_rows(browser)]
    assert names == sorted(names, key=str.lower) and names != [r.column for r in report.rows]
    assert header.get_attribute("aria-sort") == "ascending"
    header.find_element(By.TAG_NAME, "button").click()
    assert [r[1] for r in _visible_rows(browser)] == sorted(names, key=str.lower, reverse=True)

    # typing in the filter hides the rows that do not match; the strategy select narrows
    browser.find_element(By.ID, "filter").send_keys("ni_number")
    assert [(r[0], r[1]) for r in _visible_rows(browser)] == [("public.trainees", "ni_number")]
    assert shown.text == f"1 of {len(report.rows)} columns shown"
    browser.find_element(By.ID, "filter").clear()
    browser.execute_script("document.getElementById('filter').dispatchEvent(new Event('input'))")
    Select(browser.find_element(By.ID, "strategy")).select_by_value("presidio")
    presidio = [(r.table, r.column) for r in report.rows if r.strategy == "presidio"]
    assert sorted((r[0], r[1]) for r in _visible_rows(browser)) == sorted(presidio)

    # self-contained: the page itself is the only thing loaded
    requested = [
        json.loads(entry["message"])["message"]["params"]["request"]["url"]
        for entry in browser.get_log("performance")
        if '"Network.requestWillBeSent"' in entry["message"]
    ]
    assert requested and all(url == path.as_uri() for url in requested), requested

"""Shared set-up for the browser tests: Debian's Chromium driven by Playwright."""

import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
REQUIRED = os.environ.get("BANANA_REQUIRE_BROWSER") == "1"


def chromium_or_skip():
    """Skip (or, when CI demands browsers, fail) without Chromium and Playwright."""
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        reason = "Playwright for Python is not installed"
    else:
        if os.path.exists(CHROMIUM) or shutil.which(CHROMIUM):
            return
        reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if REQUIRED:
        pytest.fail(f"browser tests are required here but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    chromium_or_skip()
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # between browser steps are ordinary blocking calls, which Django would otherwise refuse.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def log_in(page, live_server, username, password="pw"):
    page.goto(live_server.url + "/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")


# --- axe-core, from the npm registry, cached in the work tree ------------------------------

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AXE_VERSION = "4.10.3"
AXE_PREFIX = os.path.join(ROOT, ".cache", "npm")
AXE_SCRIPT = os.path.join(AXE_PREFIX, "node_modules", "axe-core", "axe.min.js")


def axe_script():
    """The path of axe.min.js, installed with npm on first use (CI starts from a clean clone)."""
    import json
    import subprocess

    package = os.path.join(AXE_PREFIX, "node_modules", "axe-core", "package.json")
    if os.path.exists(package):
        with open(package, encoding="utf-8") as fh:
            if json.load(fh).get("version") == AXE_VERSION:
                return AXE_SCRIPT
    npm = shutil.which("npm")
    if npm is None:
        if REQUIRED:
            pytest.fail("axe-core is needed here but npm is not installed")
        pytest.skip("npm is not installed (apt-get install npm)")
    subprocess.run(
        [
            npm,
            "install",
            "--prefix",
            AXE_PREFIX,
            f"axe-core@{AXE_VERSION}",
            "--no-audit",
            "--no-fund",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return AXE_SCRIPT


def serious_accessibility_violations(page):
    """axe-core's serious and critical findings on the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=axe_script())
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => ({id: v.id, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"
    )
    return result


def sideways_overflow(page):
    """How many pixels the page is wider than its viewport (0: no sideways scroll)."""
    return page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )


def open_composer_settings(page):
    """Open the composer's folded settings (ratio, size, count, visibility, URLs) as a member
    does, with a click; the browser remembers them open."""
    settings = page.locator("[data-composer-settings]")
    if not settings.evaluate("d => d.open"):
        settings.locator("summary").click()


def watch_problems(page):
    """What a person would call broken on `page` from now on: console errors, failed
    requests and answers of 400 or more. A load the browser itself cancels when the next
    page is opened (net::ERR_ABORTED, the favicon of a page left at once) is not one."""
    problems = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on(
        "requestfailed",
        lambda r: (
            "ERR_ABORTED" not in (r.failure or "")
            and problems.append(f"failed ({r.failure}): {r.url}")
        ),
    )
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status}: {r.url}"))
    return problems

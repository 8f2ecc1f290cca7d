"""Headless Chromium for the tests and benchmarks: Debian's ``chromium`` and ``chromedriver``, driven by
Selenium, started with the flags DESIGN.md section 6 requires. Selenium Manager never runs (it would try
to download a browser): the driver and the browser binary are named explicitly.

``missing_reason()`` says why Chromium cannot run here (``None`` when it can); ``launch(profile)`` starts
it on a user-data directory (kept by the caller, so a test can restart the browser on the same profile).
"""

import shutil

# DESIGN.md section 6: without the background-networking flags Chromium hammers the closed network.
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,900",
)


def binaries():
    """``(chromium, chromedriver)`` paths, or ``None`` for each that is not on PATH."""
    return shutil.which("chromium"), shutil.which("chromedriver")


def missing_reason():
    chromium, driver = binaries()
    if chromium is None or driver is None:
        return "needs Debian's chromium and chromium-driver (python build.py installs them)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "needs selenium (pip install -e .[test])"
    return None


def launch(profile, *extra_flags):
    """A Selenium ``webdriver.Chrome`` on headless Chromium with ``profile`` as its user-data directory."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*FLAGS, f"--user-data-dir={profile}", *extra_flags):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(driver), options=options)
    browser.set_script_timeout(600)
    return browser

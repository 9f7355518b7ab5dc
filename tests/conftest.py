import os

import pytest
from hypothesis import settings

from browser_harness import CHROMIUM, CHROMIUM_ARGS, missing

# Before anything imports TensorFlow: keep its C++ logging out of the test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# No per-example deadline: how long an example takes depends on what else runs on the
# machine (make test builds the book beside the unit tests), never on the property.
settings.register_profile("any-load", deadline=None)
settings.load_profile("any-load")


def pytest_addoption(parser):
    parser.addoption(
        "--executed-notebooks", default=None, metavar="DIR",
        help="compare the book notebooks executed into DIR (the book build's "
             "_build/jupyter_execute) instead of executing them again")


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's), driven by Playwright, shared by the browser tests."""
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"no Chromium at {CHROMIUM}: run `make chromium`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()

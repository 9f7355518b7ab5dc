"""What the browser tests share: Debian's Chromium, started so that it asks nothing of the
network, and the rule that a missing browser or site fails under CI=true."""

import os

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
IN_CI = os.environ.get("CI") == "true"


def missing(reason):
    """Skip for a reason outside the code under test; under CI=true, fail instead."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this is a failure, not a skip)")
    pytest.skip(reason)

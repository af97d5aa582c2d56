"""The console's tests start from a signed-in privacy officer (``tests.support.officers``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.officers import Officer, signed_in_officer


@pytest.fixture
def officer(client: Any, runtime: Any, make_user: Any) -> Officer:
    return signed_in_officer(client, runtime, make_user)


@pytest.fixture
def new_browser(app: Any) -> Any:
    """Another browser (its own cookies) on the same app."""
    from starlette.testclient import TestClient

    opened = []

    def open_one() -> Any:
        browser = TestClient(app, base_url="http://testserver", follow_redirects=False)
        opened.append(browser)
        return browser

    yield open_one
    for browser in opened:
        browser.close()

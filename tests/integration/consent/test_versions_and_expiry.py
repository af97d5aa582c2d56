"""Grants expire; a major version bump makes them stale and asks again at sign-in; a minor
bump carries them over."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from identity.app import create_app
from identity.resources import resource_dir
from tests.support.consent_fixtures import answer_of
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import login, page_text, submit


def test_a_grant_expires_after_its_lifetime(browser, writer, customer, runtime, clock):
    browser.put(
        f"/v1/consents/{customer.id}/partner_sharing", json={"decision": "granted"}, headers=writer
    )
    days = runtime.consent.purpose("partner_sharing").expires_after_days
    clock.tick(timedelta(days=days) - timedelta(minutes=1))
    assert answer_of(runtime, str(customer.id), "partner_sharing").allowed
    clock.tick(timedelta(minutes=2))
    answer = answer_of(runtime, str(customer.id), "partner_sharing")
    assert (answer.allowed, answer.reason) == (False, "expired")


@pytest.fixture
def bumped_policies(tmp_path):
    """A copy of the shipped purposes, to edit versions in."""
    directory = tmp_path / "policies"
    shutil.copytree(resource_dir("policies"), directory)

    def bump(purpose: str, version: str, change: str) -> None:
        path = directory / f"{purpose}.toml"
        text = path.read_text().replace('version = "1.0"', f'version = "{version}"')
        text = text.replace("changelog = [", f'changelog = ["{change}", ')
        path.write_text(text)

    return directory, bump


def test_a_minor_bump_carries_grants_over(
    browser, writer, customer, make_settings, bumped_policies
):
    directory, bump = bumped_policies
    browser.put(
        f"/v1/consents/{customer.id}/personalization", json={"decision": "granted"}, headers=writer
    )
    bump("personalization", "1.1", "1.1: clearer wording")
    with TestClient(
        create_app(make_settings(policies_dir=directory)), base_url="http://testserver"
    ) as new:
        answer = new.get(f"/v1/consents/{customer.id}/personalization", headers=writer).json()
    assert (answer["allowed"], answer["version"], answer["current_version"]) == (True, "1.0", "1.1")


def test_a_major_bump_makes_grants_stale_and_asks_again_at_sign_in(
    browser, writer, customer, make_settings, bumped_policies
):
    directory, bump = bumped_policies
    browser.put(
        f"/v1/consents/{customer.id}/personalization", json={"decision": "granted"}, headers=writer
    )
    bump("personalization", "2.0", "2.0: now also uses your store purchases")
    app = create_app(make_settings(policies_dir=directory))
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as shop:
        answer = shop.get(f"/v1/consents/{customer.id}/personalization", headers=writer).json()
        assert (answer["allowed"], answer["reason"]) == (False, "stale")
        signed_in = login(shop, customer.email, DEFAULT_PASSWORD, next_url="/account")
        assert signed_in.headers["location"] == "/privacy/review?next=%2Faccount"
        page = shop.get(signed_in.headers["location"])
        assert "2.0: now also uses your store purchases" in page_text(page.text)
        kept = submit(
            shop,
            "/privacy/review",
            {"choice": "keep", "next": "/account"},
            form_page="/privacy/review?next=/account",
        )
        assert kept.headers["location"] == "/account"
        answer = shop.get(f"/v1/consents/{customer.id}/personalization", headers=writer).json()
        assert (answer["allowed"], answer["version"]) == (True, "2.0")
        # Nothing left to review: the next sign-in goes straight on.
        assert login(shop, customer.email, DEFAULT_PASSWORD).headers["location"] == "/account"


def test_turning_stale_grants_off_at_the_review(
    browser, writer, customer, make_settings, bumped_policies
):
    directory, bump = bumped_policies
    browser.put(
        f"/v1/consents/{customer.id}/personalization", json={"decision": "granted"}, headers=writer
    )
    bump("personalization", "2.0", "2.0: more data")
    with TestClient(
        create_app(make_settings(policies_dir=directory)),
        base_url="http://testserver",
        follow_redirects=False,
    ) as shop:
        login(shop, customer.email, DEFAULT_PASSWORD)
        submit(
            shop,
            "/privacy/review",
            {"choice": "stop", "next": "/account"},
            form_page="/privacy/review?next=/account",
        )
        answer = shop.get(f"/v1/consents/{customer.id}/personalization", headers=writer).json()
    assert (answer["allowed"], answer["reason"]) == (False, "withdrawn")


def test_a_bad_policy_file_stops_the_app_and_the_cli_names_it(make_settings, bumped_policies):
    import subprocess
    import sys

    from identity.consent.policy import PolicyError

    directory, _ = bumped_policies
    (directory / "analytics.toml").write_text(
        (directory / "analytics.toml")
        .read_text()
        .replace('legal_basis = "legitimate_interest"', 'legal_basis = "because"')
    )
    with pytest.raises(PolicyError, match=r"analytics.toml: field legal_basis"):
        create_app(make_settings(policies_dir=directory))
    result = subprocess.run(
        [sys.executable, "-m", "identity", "policies", "check", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "analytics.toml: field legal_basis" in result.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "identity", "policies", "check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert ok.returncode == 0
    assert "6 purposes valid" in ok.stdout

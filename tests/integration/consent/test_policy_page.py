"""The public policy page (``/privacy/purposes``): every purpose and every version of its text,
with the days it was in force, and the anchors receipts point at. A receipt of an earlier
version shows the text of that version, as long as the purpose file keeps it."""

from __future__ import annotations

import shutil
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from identity.app import create_app
from identity.resources import resource_dir
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import login, page_text, submit
from tests.support.receipts import jws_on, record_ids, verify

NEW_WORDING = {
    "en": "We use what you buy, look at and keep in your wishlist to recommend products.",
    "es": "Usamos lo que compras, miras y guardas en tu lista de deseos para recomendarte.",
}


def test_the_policy_page_is_public_and_reads_in_spanish_and_english(app, runtime):
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as anyone:
        spanish = anyone.get("/privacy/purposes", headers={"accept-language": "es"})
        english = anyone.get("/privacy/purposes?lang=en")
    assert spanish.status_code == english.status_code == 200
    es, en = page_text(spanish.text), page_text(english.text)
    assert "Cómo usamos tus datos" in es
    assert "How we use your data" in en
    for purpose in runtime.consent.catalog:
        assert f'id="{purpose.id}"' in spanish.text
        assert f'id="{purpose.id}-v{purpose.version}"' in spanish.text
        for locale, text in (("es", es), ("en", en)):
            assert purpose.title.get(locale) in text
            assert purpose.description.get(locale) in text
    assert "En vigor desde el 23 de noviembre de 2026" in es
    assert "In force since 23 November 2026" in en
    assert "Base jurídica: Interés legítimo (puedes oponerte)" in es  # statistics
    assert "Legal basis: Needed for your purchases" in en  # order emails
    assert "<script" not in spanish.text


def test_the_privacy_center_links_to_the_policy_page(client, customer):
    login(client, customer.email, DEFAULT_PASSWORD)
    assert 'href="/privacy/purposes"' in client.get("/account/privacy").text


@pytest.fixture
def reworded(tmp_path):
    """Policies where recommendations moved to version 1.1, keeping 1.0 word for word as an
    earlier version (or, with ``keep=False``, dropping it)."""

    def write(keep: bool = True) -> object:
        directory = tmp_path / ("kept" if keep else "dropped")
        shutil.copytree(resource_dir("policies"), directory)
        path = directory / "personalization.toml"
        old = path.read_text()
        text = old.replace('version = "1.0"', 'version = "1.1"')
        text = text.replace("changelog = [", 'changelog = ["1.1: the wishlist counts too", ')
        text = text.replace("effective = 2026-11-23", "effective = 2026-12-01")
        head, _, _ = text.partition("[title]")
        title = old[old.index("[title]") : old.index("[description]")]
        description = old[old.index("[description]") :]
        new = (
            f'{head}{title}[description]\nen = "{NEW_WORDING["en"]}"\nes = "{NEW_WORDING["es"]}"\n'
        )
        if keep:
            earlier = description.replace("[description]", "[earlier.description]")
            new += '\n[[earlier]]\nversion = "1.0"\neffective = 2026-11-23\n'
            new += title.replace("[title]", "[earlier.title]") + earlier
        path.write_text(new)
        return directory

    return write


def test_every_version_is_on_the_page_with_the_days_it_was_in_force(make_settings, reworded):
    app = create_app(make_settings(policies_dir=reworded()))
    with TestClient(app, base_url="http://testserver") as anyone:
        page = anyone.get("/privacy/purposes?lang=en")
    text = page_text(page.text)
    for anchor in ("personalization", "personalization-v1.1", "personalization-v1.0"):
        assert f'id="{anchor}"' in page.text
    assert NEW_WORDING["en"] in text
    assert "Version 1.1 current In force since 1 December 2026" in text
    assert "Version 1.0 In force from 23 November 2026 to 1 December 2026" in text
    assert "What changed: the wishlist counts too" in text
    assert text.index(NEW_WORDING["en"]) < text.index("We use what you buy and look at")


def test_a_receipt_of_an_earlier_version_shows_the_text_shown_then(
    client, customer, runtime, make_settings, reworded
):
    login(client, customer.email, DEFAULT_PASSWORD)
    submit(client, "/account/privacy", {"purpose.personalization": "on"})
    [record_id] = record_ids(runtime)
    shown_then = runtime.consent.purpose("personalization")
    with TestClient(
        create_app(make_settings(policies_dir=reworded())),
        base_url="http://testserver",
        follow_redirects=False,
    ) as later:
        login(later, customer.email, DEFAULT_PASSWORD)
        page = later.get(f"/account/privacy/receipts/{record_id}")
        claims = verify(jws_on(page.text), later.get("/receipts/jwks").json()).claims
        policy = later.get(urlsplit(claims["policyUrl"]).path).text
    text = page_text(page.text)
    assert shown_then.description.es in text
    assert NEW_WORDING["es"] not in text
    assert "versión 1.0" in text
    assert shown_then.text_hash("es") in text  # the hash still proves the text shown
    assert "prueba que esto es lo que se mostró" in text
    assert claims["policyUrl"] == "http://testserver/privacy/purposes#personalization-v1.0"
    assert 'id="personalization-v1.0"' in policy


def test_a_receipt_whose_version_text_was_dropped_says_so_and_points_at_the_purpose(
    client, customer, runtime, make_settings, reworded
):
    login(client, customer.email, DEFAULT_PASSWORD)
    submit(client, "/account/privacy", {"purpose.personalization": "on"})
    [record_id] = record_ids(runtime)
    with TestClient(
        create_app(make_settings(policies_dir=reworded(keep=False))),
        base_url="http://testserver",
        follow_redirects=False,
    ) as later:
        login(later, customer.email, DEFAULT_PASSWORD)
        page = later.get(f"/account/privacy/receipts/{record_id}?lang=en")
        claims = verify(jws_on(page.text), later.get("/receipts/jwks").json()).claims
    text = page_text(page.text)
    assert "no longer in our policy files" in text
    assert not any(wording in text for wording in NEW_WORDING.values())
    assert claims["policyUrl"] == "http://testserver/privacy/purposes#personalization"

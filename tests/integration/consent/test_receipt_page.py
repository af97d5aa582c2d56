"""The receipt page: a customer reads, prints and checks a receipt of each of their choices
(es/en), the JWS on it verifies against the published receipt keys, its ``policyUrl`` lands on
the version's text, and nobody else can see it."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from html import unescape
from urllib.parse import urlsplit

import pytest
from joserfc.errors import BadSignatureError
from starlette.testclient import TestClient

from identity.consent.receipts import VERIFY_PYTHON
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import login, page_text, submit
from tests.support.receipts import jws_on, record_ids, verify


@pytest.fixture
def receipt_id(client, customer, runtime) -> int:
    """Carla (Spanish) allowed recommendations in the preference center: one record."""
    login(client, customer.email, DEFAULT_PASSWORD)
    submit(client, "/account/privacy", {"purpose.personalization": "on"})
    [record_id] = record_ids(runtime)
    return record_id


def test_the_receipt_page_reads_in_spanish_with_the_text_shown_and_the_jws(
    client, customer, runtime, receipt_id
):
    page = client.get(f"/account/privacy/receipts/{receipt_id}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    text = page_text(page.text)
    purpose = runtime.consent.purpose("personalization")
    assert "Justificante de consentimiento" in text
    assert purpose.title.es in text
    assert purpose.description.es in text  # the exact text shown, from the policy version
    assert "versión 1.0" in text
    assert "Decisión permitido" in text
    assert "Base jurídica Tu consentimiento" in text
    assert f"La cuenta {customer.id}" in text
    assert customer.email not in text
    assert "Cómo se recogió ajustes de privacidad" in text
    assert purpose.text_hash("es") in text
    assert "<script" not in page.text
    assert f'href="/account/privacy/receipts/{receipt_id}.jwt"' in page.text
    jws = jws_on(page.text)
    assert jws.count(".") == 2  # compact serialization
    assert verify(jws, client.get("/receipts/jwks").json()).header["kid"] in text


def test_the_receipt_page_reads_in_english_and_keeps_the_text_in_the_language_shown(
    client, runtime, receipt_id
):
    page = client.get(f"/account/privacy/receipts/{receipt_id}?lang=en")
    text = page_text(page.text)
    purpose = runtime.consent.purpose("personalization")
    assert "Consent receipt" in text
    assert "Personalised recommendations" in text  # the purpose, in the page's language
    assert "Decision allowed" in text
    assert "Legal basis Your consent" in text
    assert "How it was collected privacy settings" in text
    # What was shown was Spanish, and it stays so, marked as such.
    assert '<blockquote class="shown" lang="es">' in page.text
    assert purpose.description.es in text
    assert "/receipts/jwks" in text
    assert "BadSignatureError" in text


def test_the_jws_on_the_page_verifies_against_the_published_receipt_keys(
    client, customer, runtime, receipt_id
):
    jws = jws_on(client.get(f"/account/privacy/receipts/{receipt_id}").text)
    published = client.get("/receipts/jwks").json()  # over HTTP, as anyone would fetch it
    receipt = verify(jws, published)
    assert receipt.header["typ"] == "consent-receipt+jwt"
    claims = receipt.claims
    assert claims["consentReceiptID"] == str(receipt_id)
    assert claims["piiPrincipalId"] == str(customer.id)
    [purpose] = claims["services"][0]["purposes"]
    assert (purpose["purposeId"], purpose["purposeVersion"], purpose["decision"]) == (
        "personalization",
        "1.0",
        "granted",
    )
    # A real signature check: one changed claim and it no longer verifies.
    header, payload, signature = jws.split(".")
    forged = json.loads(_b64decode(payload))
    forged["services"][0]["purposes"][0]["decision"] = "denied"
    with pytest.raises(BadSignatureError):
        verify(f"{header}.{_b64encode(json.dumps(forged))}.{signature}", published)


def test_the_verification_example_on_the_page_works(client, runtime, receipt_id, tmp_path):
    page = unescape(client.get(f"/account/privacy/receipts/{receipt_id}?lang=en").text)
    (tmp_path / "receipt-keys.json").write_text(client.get("/receipts/jwks").text)
    filename = f"consent-receipt-{receipt_id}.jwt"
    (tmp_path / filename).write_text(client.get(f"/account/privacy/receipts/{receipt_id}.jwt").text)
    code = VERIFY_PYTHON.replace("{filename}", filename)
    assert "curl -o receipt-keys.json http://testserver/receipts/jwks\n" in page
    assert f"python3 - <<'EOF'\n{code}EOF" in page  # the very commands the page shows
    checked = subprocess.run(
        [sys.executable, "-"], input=code, cwd=tmp_path, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    assert f"'consentReceiptID': '{receipt_id}'" in checked.stdout


def test_the_policy_url_of_a_receipt_lands_on_the_text_of_its_version(
    client, app, runtime, receipt_id
):
    claims = verify(
        client.get(f"/account/privacy/receipts/{receipt_id}.jwt").text,
        client.get("/receipts/jwks").json(),
    ).claims
    url = urlsplit(claims["policyUrl"])
    assert (url.scheme, url.netloc, url.path) == ("http", "testserver", "/privacy/purposes")
    assert url.fragment == "personalization-v1.0"
    with TestClient(app, base_url="http://testserver") as anyone:  # no session: public
        policy = anyone.get(url.path)
    assert policy.status_code == 200
    assert f'id="{url.fragment}"' in policy.text
    page = client.get(f"/account/privacy/receipts/{receipt_id}").text
    assert f'href="{claims["policyUrl"]}"' in page


def test_another_customers_receipt_is_the_same_404_as_one_that_does_not_exist(
    app, make_user, receipt_id
):
    make_user("mallory@example.com")
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as mallory:
        login(mallory, "mallory@example.com", DEFAULT_PASSWORD)
        theirs = mallory.get(f"/account/privacy/receipts/{receipt_id}")
        missing = mallory.get(f"/account/privacy/receipts/{receipt_id + 1000}")
        assert theirs.status_code == missing.status_code == 404
        assert page_text(theirs.text) == page_text(missing.text)
        for path in (f"{receipt_id}.jwt", f"{receipt_id + 1000}.jwt", "abc", "1e3", "9" * 40):
            assert mallory.get(f"/account/privacy/receipts/{path}").status_code == 404


def test_a_signed_out_visitor_signs_in_and_comes_back_to_the_receipt(app, customer, receipt_id):
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as visitor:
        asked = visitor.get(f"/account/privacy/receipts/{receipt_id}")
        assert asked.status_code == 303
        assert asked.headers["location"] == f"/login?next=/account/privacy/receipts/{receipt_id}"
        assert visitor.get(f"/account/privacy/receipts/{receipt_id}.jwt").status_code == 303
        signed_in = login(
            visitor, customer.email, DEFAULT_PASSWORD, f"/account/privacy/receipts/{receipt_id}"
        )
        assert signed_in.headers["location"] == f"/account/privacy/receipts/{receipt_id}"


def test_the_history_links_each_record_to_its_receipt_page(client, receipt_id):
    page = client.get("/account/privacy").text
    assert f'href="/account/privacy/receipts/{receipt_id}"' in page
    assert 'href="/privacy/purposes"' in page


def test_a_receipt_of_a_service_names_the_channel_and_its_own_wording(
    client, app, customer, writer, runtime
):
    own_wording = "a" * 64
    recorded = client.put(
        f"/v1/consents/{customer.id}/personalization",
        json={"decision": "granted", "language": "es", "text_hash": own_wording},
        headers=writer,
    )
    assert recorded.status_code in (200, 201), recorded.text
    [record_id] = record_ids(runtime)
    login(client, customer.email, DEFAULT_PASSWORD)
    text = page_text(client.get(f"/account/privacy/receipts/{record_id}?lang=en").text)
    assert "Store POS" in text  # the channel that collected it, by name
    assert "showed its own wording" in text
    assert own_wording in text


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _b64encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()

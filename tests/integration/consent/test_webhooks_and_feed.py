"""Webhooks signed the Standard Webhooks way with a real receiver, and the change feed under
concurrent writers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import textwrap

import pytest


def deliver(runtime):
    """What the server's threads do: place committed records (which queues their webhooks),
    then deliver what is due."""
    runtime.sequencer.drain()
    return runtime.outbox.deliver_due()


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (https://www.standardwebhooks.com/), written independently."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(sig.split(",", 1)[1], expected)
        for sig in headers["webhook-signature"].split()
        if sig.startswith("v1,")
    )


def subscribe(browser, headers, url, purposes=()):
    response = browser.post(
        "/v1/webhooks", json={"url": url, "purposes": list(purposes)}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_webhooks_are_signed_retried_and_their_deliveries_visible(
    browser, reader, writer, customer, receiver, runtime, clock, settings
):
    receiver.failures, receiver.fail_status, receiver.ok_status = 1, 500, 204
    subscription = subscribe(browser, reader, receiver.url, ["personalization"])
    assert subscription["secret"].startswith("whsec_")
    browser.put(
        f"/v1/consents/{customer.id}/personalization", json={"decision": "granted"}, headers=writer
    )
    browser.put(
        f"/v1/consents/{customer.id}/analytics", json={"decision": "denied"}, headers=writer
    )  # not subscribed
    first = deliver(runtime)
    assert [a.ok for a in first] == [False]
    deliveries = browser.get(f"/v1/webhooks/{subscription['id']}/deliveries", headers=reader).json()
    assert [(d["status"], d["attempts"], d["last_error"]) for d in deliveries] == [
        ("pending", 1, "HTTP 500")
    ]
    clock.tick(settings.outbox_retry_base.total_seconds() + 1)
    assert [a.ok for a in deliver(runtime)] == [True]
    failed, delivered = receiver.calls
    assert (failed.status, delivered.status) == (500, 204)
    assert delivered.headers["webhook-id"] == failed.headers["webhook-id"]  # stable on retry
    assert verify_standard_webhook(subscription["secret"], delivered.headers, delivered.body)
    assert not verify_standard_webhook(
        "whsec_" + base64.b64encode(b"x" * 32).decode(), delivered.headers, delivered.body
    )
    event = json.loads(delivered.body)
    assert event["type"] == "consent.changed"
    assert (event["data"]["subject"], event["data"]["purpose"], event["data"]["decision"]) == (
        str(customer.id),
        "personalization",
        "granted",
    )
    deliveries = browser.get(f"/v1/webhooks/{subscription['id']}/deliveries", headers=reader).json()
    assert deliveries[0]["status"] == "delivered"


def test_subscriptions_are_per_client_and_can_be_removed(
    browser, reader, writer, receiver, customer, runtime
):
    subscription = subscribe(browser, reader, receiver.url)
    assert [s["id"] for s in browser.get("/v1/webhooks", headers=reader).json()] == [
        subscription["id"]
    ]
    assert browser.get("/v1/webhooks", headers=writer).json() == []
    assert (
        browser.get(f"/v1/webhooks/{subscription['id']}/deliveries", headers=writer).status_code
        == 404
    )
    assert browser.delete(f"/v1/webhooks/{subscription['id']}", headers=reader).status_code == 204
    browser.put(
        f"/v1/consents/{customer.id}/personalization", json={"decision": "granted"}, headers=writer
    )
    assert deliver(runtime) == []


@pytest.mark.parametrize("url", ["http://evil.example/hook", "ftp://x/y", "not a url"])
def test_webhook_urls_must_be_https(browser, reader, url):
    response = browser.post("/v1/webhooks", json={"url": url}, headers=reader)
    assert response.status_code == 422


def page_all(browser, headers, after=0):
    items = []
    while True:
        page = browser.get(
            "/v1/consents/changes", params={"after": after, "limit": 50}, headers=headers
        ).json()
        items += page["items"]
        if page["next_cursor"] == after:
            return items, after
        after = page["next_cursor"]


def test_the_change_feed_is_ordered_and_resumable(browser, reader, writer, customer, runtime):
    for purpose in ("personalization", "analytics", "partner_sharing"):
        browser.put(
            f"/v1/consents/{customer.id}/{purpose}", json={"decision": "granted"}, headers=writer
        )
    runtime.sequencer.drain()
    first = browser.get("/v1/consents/changes", params={"limit": 2}, headers=reader).json()
    assert [i["purpose"] for i in first["items"]] == ["personalization", "analytics"]
    rest = browser.get(
        "/v1/consents/changes", params={"after": first["next_cursor"]}, headers=reader
    ).json()
    assert [i["purpose"] for i in rest["items"]] == ["partner_sharing"]
    empty = browser.get(
        "/v1/consents/changes", params={"after": rest["next_cursor"]}, headers=reader
    ).json()
    assert empty == {"items": [], "next_cursor": rest["next_cursor"]}


WRITER = textwrap.dedent(
    """
    import os, sys, uuid
    from identity.accounts.models import User
    from identity.context import Origin
    from identity.runtime import Runtime
    from identity.settings import Settings

    settings = Settings(database_url=sys.argv[1], secret_key="k" * 40, env="test",
                        var_dir=sys.argv[4], outbox_worker=False)
    runtime = Runtime.build(settings)
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(int(sys.argv[3])):
        purpose = ["personalization", "partner_sharing"][i % 2]
        runtime.consent.set_choices(
            sys.argv[2], {purpose: i % 4 < 2}, origin=Origin(ip="127.0.0.1")
        )
    runtime.close()
    """
)


def test_the_change_feed_has_no_gaps_or_duplicates_under_concurrent_writers(
    browser, reader, make_user, database_url, tmp_path, runtime
):
    users = [make_user(f"w{n}@example.com") for n in range(2)]
    per_writer = 60
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, database_url, str(u.id), str(per_writer), str(tmp_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for u in users
    ]
    for w in writers:
        assert w.stdout.readline().strip() == "ready", w.stderr.read()
    for w in writers:
        w.stdin.write("go\n")
        w.stdin.flush()
    # The sequencer places records while they are written, and the feed is read meanwhile:
    # every page resumes from the last cursor.
    runtime.sequencer.start()
    seen, cursor = [], 0
    while any(w.poll() is None for w in writers):
        items, cursor = page_all(browser, reader, cursor)
        seen += items
    for w in writers:
        _, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
    runtime.sequencer.stop()
    runtime.sequencer.drain()
    items, cursor = page_all(browser, reader, cursor)
    seen += items
    cursors = [i["cursor"] for i in seen]
    assert len(seen) == 2 * per_writer
    assert cursors == list(range(1, 2 * per_writer + 1))  # no gap, no duplicate, in order
    assert {i["subject"] for i in seen} == {str(u.id) for u in users}

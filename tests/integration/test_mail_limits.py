"""Nobody can use the sign-up and reset forms to flood a mailbox, inject text into our mail, or
time the reset form to learn which addresses have accounts."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from identity.app import create_app
from identity.mail import OutgoingMail
from identity.runtime import Runtime
from tests.support.forms import csrf_token, page_text, submit

PHISHING_NAME = "URGENT: verify at https://evil.example/shop"


def forgot(client: Any, email: str) -> Any:
    return submit(client, "/forgot", {"email": email}, form_page="/forgot")


def signup(client: Any, email: str, name: str = "Ana") -> Any:
    data = {"email": email, "name": name, "password": "a long enough password", "locale": "en"}
    return submit(client, "/signup", data)


@pytest.mark.parametrize("known", [True, False], ids=["known", "unknown"])
def test_reset_requests_for_one_address_are_limited_whether_or_not_it_has_an_account(
    client, make_user, mailbox, known
):
    if known:
        make_user("ana@example.com")
    statuses = [forgot(client, "ana@example.com").status_code for _ in range(6)]
    assert statuses == [303, 303, 303, 429, 429, 429]
    assert len(mailbox.messages()) == (3 if known else 0)


def test_the_limit_is_answered_with_retry_after_in_the_customers_language(client, make_user):
    client.headers["accept-language"] = "es-ES,es;q=0.9"
    for _ in range(3):
        forgot(client, "ana@example.com")
    refused = forgot(client, "ana@example.com")
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    assert "Acabamos de enviar varios mensajes a esta dirección" in page_text(refused.text)


def test_sign_ups_for_one_address_send_at_most_the_limit(client, make_user, mailbox):
    make_user("victim@example.com")
    statuses = [signup(client, "victim@example.com").status_code for _ in range(10)]
    assert statuses.count(429) == 7
    assert len([m for m in mailbox.messages() if m["to"] == "victim@example.com"]) == 3


def test_requests_from_one_address_of_the_internet_are_limited_across_mailboxes(make_settings):
    settings = make_settings(mail_max_per_ip=4)
    runtime = Runtime.build(settings)
    with TestClient(create_app(settings, runtime=runtime), follow_redirects=False) as client:
        statuses = [forgot(client, f"user{i}@example.com").status_code for i in range(6)]
    runtime.close()
    assert statuses == [303, 303, 303, 303, 429, 429]


def test_a_name_that_reads_like_a_link_is_never_mailed_to_an_unverified_address(client, mailbox):
    signup(client, "victim@example.com", name=PHISHING_NAME)
    forgot(client, "victim@example.com")
    texts = [m["text"] for m in mailbox.messages() if m["to"] == "victim@example.com"]
    assert len(texts) == 2  # the verification link, then the reset link
    assert all("evil.example" not in text and "URGENT" not in text for text in texts)


def test_a_verified_customer_is_greeted_by_name(client, make_user, mailbox):
    make_user("ana@example.com", name="Ana García")
    forgot(client, "ana@example.com")
    assert "Ana García" in mailbox.last("ana@example.com")["text"]


class RecordingSender:
    def __init__(self) -> None:
        self.threads: list[str] = []

    def send(self, mail: OutgoingMail) -> None:
        self.threads.append(threading.current_thread().name)


def test_a_reset_request_does_the_same_work_for_known_and_unknown_addresses(
    client, runtime, make_user
):
    make_user("ana@example.com")
    sender = RecordingSender()
    runtime.accounts._mail._sender = sender
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(runtime.db.engine, "before_cursor_execute", record)
    try:
        token = csrf_token(client, "/forgot")
        statements.clear()
        client.post("/forgot", data={"csrf_token": token, "email": "ana@example.com"})
        known, statements[:] = list(statements), []
        client.post("/forgot", data={"csrf_token": token, "email": "nobody@example.com"})
        unknown = list(statements)
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", record)
    runtime.mail_jobs.drain()
    assert known == unknown
    assert any("audit_entry" in s for s in known)
    assert sender.threads
    assert all(name.startswith("mail") for name in sender.threads)

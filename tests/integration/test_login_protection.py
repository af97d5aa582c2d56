"""Login throttling, enumeration resistance and password rehashing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time
from starlette.testclient import TestClient

from identity.accounts.passwords import Passwords
from identity.app import create_app
from identity.runtime import Runtime
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import login, page_text


def fail(client, email="ana@example.com", n=1):
    return [login(client, email, "wrong password!!") for _ in range(n)]


def test_repeated_failures_lock_the_account_with_429_and_retry_after(
    client, make_user, settings, audit_actions
):
    make_user("ana@example.com")
    with freeze_time("2026-04-01 10:00:00"):
        responses = fail(client, n=settings.login_max_failures_per_account)
        assert [r.status_code for r in responses] == [401] * settings.login_max_failures_per_account
        locked = login(client, "ana@example.com", DEFAULT_PASSWORD)  # even the right password
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) == settings.login_lock_base.total_seconds()
    assert "Too many attempts" in page_text(locked.text)
    assert audit_actions()[-1] == "login.throttled"


def test_the_lock_lifts_after_retry_after_and_success_resets_the_count(client, make_user, settings):
    make_user("ana@example.com")
    with freeze_time("2026-04-01 10:00:00") as frozen:
        fail(client, n=settings.login_max_failures_per_account)
        frozen.tick(settings.login_lock_base + timedelta(seconds=1))
        assert login(client, "ana@example.com", DEFAULT_PASSWORD).status_code == 303
        # The count started over: the next failures are plain failures again.
        assert [r.status_code for r in fail(client, n=2)] == [401, 401]


def test_each_further_failure_doubles_the_lock(client, make_user, settings):
    make_user("ana@example.com")
    with freeze_time("2026-04-01 10:00:00") as frozen:
        fail(client, n=settings.login_max_failures_per_account)
        frozen.tick(settings.login_lock_base + timedelta(seconds=1))
        fail(client)
        response = login(client, "ana@example.com", DEFAULT_PASSWORD)
    assert int(response.headers["retry-after"]) == 2 * settings.login_lock_base.total_seconds()


def test_unknown_emails_are_throttled_exactly_like_real_ones(client, settings):
    with freeze_time("2026-04-01 10:00:00"):
        fail(client, "nobody@example.com", n=settings.login_max_failures_per_account)
        response = login(client, "nobody@example.com", "whatever password")
    assert response.status_code == 429


def test_one_address_guessing_many_accounts_is_throttled_by_ip(make_settings, database_url):
    settings = make_settings(login_max_failures_per_ip=4, login_max_failures_per_account=100)
    with (
        TestClient(
            create_app(settings), base_url="http://testserver", follow_redirects=False
        ) as client,
        freeze_time("2026-04-01 10:00:00"),
    ):
        for n in range(4):
            assert fail(client, f"victim{n}@example.com")[0].status_code == 401
        assert fail(client, "victim99@example.com")[0].status_code == 429


def test_throttling_holds_across_two_instances_sharing_the_database(make_settings, make_user):
    """Two app instances (as two workers or containers would be) see one set of counters."""
    settings = make_settings()
    make_user("ana@example.com")
    first = TestClient(create_app(settings), base_url="http://testserver", follow_redirects=False)
    second = TestClient(create_app(settings), base_url="http://testserver", follow_redirects=False)
    with first, second, freeze_time("2026-04-01 10:00:00"):
        for n in range(settings.login_max_failures_per_account):
            instance = first if n % 2 == 0 else second
            assert fail(instance)[0].status_code == 401
        assert login(first, "ana@example.com", DEFAULT_PASSWORD).status_code == 429
        assert login(second, "ana@example.com", DEFAULT_PASSWORD).status_code == 429


class CountingPasswords(Passwords):
    """The real hasher, counting how many verifications ran."""

    verifications = 0

    def verify(self, stored_hash, password):
        CountingPasswords.verifications += 1
        return super().verify(stored_hash, password)


def test_unknown_email_and_wrong_password_are_indistinguishable(settings, make_user):
    runtime = Runtime.build(settings)
    runtime.accounts._passwords = CountingPasswords(time_cost=1, memory_cost=1024, parallelism=1)
    with TestClient(
        create_app(settings, runtime=runtime), base_url="http://testserver", follow_redirects=False
    ) as client:
        make_user("ana@example.com")
        CountingPasswords.verifications = 0
        wrong_password = login(client, "ana@example.com", "not her password")
        unknown_email = login(client, "nobody@example.com", "not her password")
    assert CountingPasswords.verifications == 2  # a real argon2 verification in both cases
    assert wrong_password.status_code == unknown_email.status_code == 401

    def normalise(response):  # the typed address is echoed in the form and the forgot link
        text = response.text.replace("nobody@example.com", "ana@example.com")
        return text.replace("nobody%40example.com", "ana%40example.com")

    assert normalise(wrong_password) == normalise(unknown_email)
    assert "email or password is not right" in page_text(wrong_password.text)


@pytest.mark.parametrize("change", [{"argon2_time_cost": 2}, {"argon2_memory_cost": 2048}])
def test_a_password_is_rehashed_at_login_when_parameters_change(
    make_settings, change, audit_actions
):
    old_runtime = Runtime.build(make_settings())
    user = old_runtime.accounts.create(
        email="ana@example.com", password=DEFAULT_PASSWORD, name="Ana", locale="es", verified=True
    )
    old_hash = user.password_hash
    new = make_settings(**change)
    new_runtime = Runtime.build(new)
    with TestClient(
        create_app(new, runtime=new_runtime), base_url="http://testserver", follow_redirects=False
    ) as client:
        assert login(client, "ana@example.com", DEFAULT_PASSWORD).status_code == 303
    stored = new_runtime.accounts.find_by_email("ana@example.com").password_hash
    assert stored != old_hash
    assert not new_runtime.passwords.needs_rehash(stored)
    assert old_runtime.passwords.needs_rehash(stored)
    assert "password.rehashed" in audit_actions()
    with TestClient(
        create_app(new, runtime=new_runtime), base_url="http://testserver", follow_redirects=False
    ) as client:
        assert login(client, "ana@example.com", DEFAULT_PASSWORD).status_code == 303
    old_runtime.close()
    new_runtime.close()


def test_concurrent_logins_from_one_address_never_fail(make_settings, make_user):
    """Regression: a successful login's refund used to race another request's throttle row."""
    from concurrent.futures import ThreadPoolExecutor

    settings = make_settings(login_max_failures_per_account=1000, login_max_failures_per_ip=1000)
    users = [make_user(f"user{n}@example.com") for n in range(4)]
    app = create_app(settings)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as warm:
        token = csrf_token_of(warm)

        def attempt(n: int) -> int:
            client = TestClient(app, base_url="http://testserver", follow_redirects=False)
            client.cookies.set("identity_csrf", token[1], domain="testserver.local")
            email = users[n % 4].email
            password = DEFAULT_PASSWORD if n % 3 else "wrong password!!"
            response = client.post(
                "/login", data={"csrf_token": token[0], "email": email, "password": password}
            )
            return response.status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(attempt, range(48)))
    assert set(statuses) <= {303, 401}, statuses


def csrf_token_of(client):
    from tests.support.forms import csrf_token

    token = csrf_token(client)
    return token, client.cookies.get("identity_csrf")

from tests.support.forms import login


def test_a_verified_user_can_sign_in_and_see_the_account_page(client, make_user):
    make_user("ana@example.com")
    response = login(client, "ana@example.com", "correct horse battery")
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    page = client.get("/account")
    assert page.status_code == 200
    assert "ana@example.com" in page.text

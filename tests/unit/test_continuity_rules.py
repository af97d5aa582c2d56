"""The pure pieces of continuity and forms: mailed links carry ``next`` only when it leads
somewhere, the sign-in form's own checks, and the country codes the address accepts."""

from __future__ import annotations

from identity.accounts.countries import country_choices, country_codes
from identity.accounts.rules import (
    Problem,
    Profile,
    link_path,
    login_form_problems,
    profile_problems,
)


def test_a_link_carries_next_only_when_it_leads_somewhere_else_than_the_account():
    assert link_path("/verify", None, token="t") == "/verify?token=t"
    assert link_path("/verify", "/account", token="t") == "/verify?token=t"
    assert link_path("/login", "/authorize/resume?interaction=a.b", notice="verified") == (
        "/login?notice=verified&next=%2Fauthorize%2Fresume%3Finteraction%3Da.b"
    )
    assert link_path("/signup/sent") == "/signup/sent"


def test_the_sign_in_form_needs_an_email_and_a_password_before_any_lookup():
    assert login_form_problems("", "") == [Problem.email_invalid, Problem.password_missing]
    assert login_form_problems("ana@example.com", "x") == []


def test_the_address_accepts_only_a_country_code_from_the_list():
    def problems(country: str) -> list[Problem]:
        profile = Profile(
            name="Ana", locale="es", street_address="x", locality="y", country=country
        )
        return profile_problems(profile, country_codes())

    assert problems("ES") == problems("es") == []
    for refused in ("Spain", "Sp", "EU", "ZZ", "150", "E"):
        assert Problem.country_invalid in problems(refused), refused


def test_country_names_are_in_the_language_asked_for_and_sorted_for_it():
    spanish = dict(country_choices("es"))
    assert spanish["ES"] == "España"
    assert spanish["DE"] == "Alemania"
    names = [name for _, name in country_choices("es")]
    assert names.index("Alemania") < names.index("Andorra") < names.index("Egipto")
    assert {code for code, _ in country_choices("en")} == country_codes()

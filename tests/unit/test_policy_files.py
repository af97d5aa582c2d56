"""Purpose files: the shipped ones are valid; a bad one is refused naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from identity.consent.policy import LegalBasis, PolicyError, load_catalog
from identity.resources import resource_dir

GOOD = """
id = "{id}"
version = "1.0"
legal_basis = "consent"
category = "marketing"
default = false
changelog = ["1.0: first"]
[title]
en = "Title"
es = "Título"
[description]
en = "Text"
es = "Texto"
"""


def test_the_shipped_purposes_cover_the_retail_cases():
    catalog = load_catalog(resource_dir("policies"))
    assert {p.id for p in catalog} == {
        "email_marketing",
        "sms_marketing",
        "personalization",
        "analytics",
        "partner_sharing",
        "order_emails",
    }
    assert catalog.get("order_emails").legal_basis is LegalBasis.contract
    assert not catalog.get("order_emails").switchable
    assert catalog.get("analytics").legal_basis is LegalBasis.legitimate_interest
    assert [p.id for p in catalog.in_category("sale_or_share")] == ["partner_sharing"]
    assert catalog.get("email_marketing").double_opt_in
    assert catalog.get("sms_marketing").double_opt_in


def write(tmp_path: Path, name: str, text: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / f"{name}.toml").write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace('version = "1.0"', 'version = "one"'), "field version"),
        (GOOD.replace('legal_basis = "consent"', 'legal_basis = "vibes"'), "field legal_basis"),
        (GOOD.replace('es = "Título"\n', ""), "field title.es"),
        (GOOD.replace("default = false", "default = true"), "consent cannot be presumed"),
        ("surprise = 1\n" + GOOD, "field surprise"),
        ("id = [unclosed", "not valid TOML"),
        (GOOD.replace('changelog = ["1.0: first"]', "changelog = []"), "field changelog"),
    ],
    ids=[
        "version",
        "basis",
        "missing-translation",
        "presumed-consent",
        "unknown-field",
        "toml",
        "changelog",
    ],
)
def test_a_bad_purpose_file_is_refused_naming_file_and_field(tmp_path, text, expected):
    directory = write(tmp_path, "bad_one", text.replace("{id}", "bad_one"))
    with pytest.raises(PolicyError) as caught:
        load_catalog(directory)
    assert str(caught.value).startswith("bad_one.toml: ")
    assert expected in str(caught.value)


def test_the_id_must_match_the_file_name(tmp_path):
    directory = write(tmp_path, "other_name", GOOD.replace("{id}", "some_id"))
    with pytest.raises(PolicyError, match=r"other_name\.toml: field id"):
        load_catalog(directory)


def test_an_empty_folder_is_refused(tmp_path):
    with pytest.raises(PolicyError, match="no purpose files"):
        load_catalog(tmp_path)


def test_the_text_hash_changes_with_language_version_and_wording(tmp_path):
    catalog = load_catalog(write(tmp_path, "p_one", GOOD.replace("{id}", "p_one")))
    purpose = catalog.get("p_one")
    assert purpose.text_hash("en") != purpose.text_hash("es")
    bumped = purpose.model_copy(update={"version": "1.1"})
    assert bumped.text_hash("en") != purpose.text_hash("en")


EARLIER = """
[[earlier]]
version = "{version}"
effective = {effective}
title = {{ en = "Old title", es = "Título antiguo" }}
description = {{ en = "Old text", es = "Texto antiguo" }}
"""


def reworded(version: str = "1.1", effective: str = "2026-12-01", *earlier: str) -> str:
    text = GOOD.replace('version = "1.0"', f'version = "{version}"').replace(
        "changelog = [", f'effective = {effective}\nchangelog = ["{version}: reworded", '
    )
    return text + "".join(earlier)


def test_every_shipped_purpose_says_when_its_version_took_effect():
    for purpose in load_catalog(resource_dir("policies")):
        assert purpose.effective is not None, purpose.id
        [current] = purpose.texts
        assert (current.version, current.current, current.until) == (purpose.version, True, None)


def test_an_earlier_version_keeps_the_hash_it_had_while_it_was_current(tmp_path):
    first = load_catalog(write(tmp_path / "a", "p_one", GOOD.replace("{id}", "p_one")))
    was = first.get("p_one")
    old = GOOD.replace("{id}", "p_one")
    kept = old[old.index("[title]") :].replace("[title]", "[earlier.title]")
    kept = kept.replace("[description]", "[earlier.description]")
    now = reworded() + f'\n[[earlier]]\nversion = "1.0"\neffective = 2026-11-23\n{kept}'
    later = load_catalog(write(tmp_path / "b", "p_one", now.replace("{id}", "p_one"))).get("p_one")
    assert [t.version for t in later.texts] == ["1.1", "1.0"]
    earlier = later.text_of("1.0")
    assert earlier.text_hash("es") == was.text_hash("es")
    assert earlier.text_hash("en") == was.text_hash("en")
    assert later.text_hash("es") != was.text_hash("es")
    assert (earlier.current, earlier.until, earlier.anchor) == (
        False,
        later.effective,
        "p_one-v1.0",
    )
    assert later.text_of("1.1").change == "reworded"
    assert later.text_of("0.9") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            reworded("1.1", "2026-12-01", EARLIER.format(version="1.1", effective="2026-11-01")),
            "earlier version 1.1 must be older than 1.1",
        ),
        (
            reworded("1.1", "2026-12-01", EARLIER.format(version="1.0", effective="2027-01-01")),
            "earlier version 1.0 takes effect after 1.1",
        ),
        (
            reworded(
                "2.0",
                "2026-12-01",
                EARLIER.format(version="1.0", effective="2026-01-01"),
                EARLIER.format(version="1.1", effective="2026-06-01"),
            ),
            "earlier version 1.1 must be older than 1.0",
        ),
        (
            GOOD + EARLIER.format(version="0.9", effective="2026-01-01"),
            "effective is needed when earlier versions are listed",
        ),
        (
            reworded("1.1", "2026-12-01", EARLIER.format(version="1.0", effective="soon")),
            "not valid TOML",
        ),
    ],
    ids=["not-older", "takes-effect-later", "not-newest-first", "no-effective", "bad-date"],
)
def test_earlier_versions_must_be_older_and_listed_newest_first(tmp_path, text, expected):
    with pytest.raises(PolicyError) as caught:
        load_catalog(write(tmp_path, "bad_one", text.replace("{id}", "bad_one")))
    assert expected in str(caught.value)

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

"""The introspection test: a table that refers to a customer cannot be added without the data
subject requests covering it. Every table, in the models and in the migrated database, is
either in the registry (exported and erased, ``identity.dsr.coverage.COVERAGE``) or in its
"not personal, because..." list; a table with a foreign key to the accounts can only be in
the registry."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Column, ForeignKey, MetaData, String, Table, create_engine, inspect

from identity.dsr.coverage import COVERAGE, NOT_PERSONAL
from identity.models import metadata

ACCOUNTS = "user_account"
# Column names that say "this row is about someone".
SUBJECT_COLUMN = re.compile(
    r"^(user_id|account_id|customer_id|subject|subject_key|sub|sid|email|anon\w*|\w+_subject)$"
)


def refers_to_a_customer(name: str, columns: list[str], references: set[str]) -> bool:
    """A foreign key to the accounts (or to a table that holds customers' rows), or a
    column named as a subject is."""
    return (
        name == ACCOUNTS
        or ACCOUNTS in references
        or bool(references & set(COVERAGE) - {"dsr_request", "audit_entry"})
        or any(SUBJECT_COLUMN.match(c) for c in columns)
    )


def model_tables(meta: MetaData) -> dict[str, tuple[list[str], set[str]]]:
    return {
        t.name: ([c.name for c in t.columns], {fk.column.table.name for fk in t.foreign_keys})
        for t in meta.sorted_tables
    }


def live_tables(url: str) -> dict[str, tuple[list[str], set[str]]]:
    engine = create_engine(url)
    try:
        schema = inspect(engine)
        return {
            name: (
                [c["name"] for c in schema.get_columns(name)],
                {fk["referred_table"] for fk in schema.get_foreign_keys(name)},
            )
            for name in schema.get_table_names()
            if name != "alembic_version"
        }
    finally:
        engine.dispose()


def uncovered(tables: dict[str, tuple[list[str], set[str]]]) -> list[str]:
    problems = []
    for name, (columns, references) in sorted(tables.items()):
        if name in COVERAGE:
            continue
        if ACCOUNTS in references:
            problems.append(f"{name}: refers to {ACCOUNTS}, so it must be in COVERAGE")
        elif name not in NOT_PERSONAL:
            about = (
                " (it refers to a customer)"
                if refers_to_a_customer(name, columns, references)
                else ""
            )
            problems.append(f"{name}{about}: in neither COVERAGE nor NOT_PERSONAL")
    return problems


def test_every_table_of_the_models_is_exported_and_erased_or_said_not_personal():
    assert uncovered(model_tables(metadata)) == []


def test_every_table_of_the_migrated_database_is_covered_too(database_url: str):
    assert uncovered(live_tables(database_url)) == []


def test_each_table_that_refers_to_a_customer_is_in_the_registry():
    tables = model_tables(metadata)
    referring = {n for n, (cols, refs) in tables.items() if refers_to_a_customer(n, cols, refs)}
    assert referring - set(COVERAGE) == set(), "classify these as covered, not 'not personal'"


def test_the_check_fails_for_a_new_table_that_refers_to_a_customer():
    extra = MetaData()
    Table(ACCOUNTS, extra, Column("id", String(36), primary_key=True))
    Table("loyalty_card", extra, Column("number", String(20), primary_key=True),
          Column("holder", ForeignKey(f"{ACCOUNTS}.id")))  # fmt: skip
    Table("wishlist", extra, Column("id", String(36), primary_key=True),
          Column("subject", String(64)))  # fmt: skip
    problems = uncovered({k: v for k, v in model_tables(extra).items() if k != ACCOUNTS})
    assert problems == [
        "loyalty_card: refers to user_account, so it must be in COVERAGE",
        "wishlist (it refers to a customer): in neither COVERAGE nor NOT_PERSONAL",
    ]


def test_the_registry_names_only_tables_that_exist_each_once():
    names = {t.name for t in metadata.sorted_tables}
    assert set(COVERAGE) <= names
    assert set(NOT_PERSONAL) <= names
    assert set(COVERAGE) & set(NOT_PERSONAL) == set()
    sections = [c.section for c in COVERAGE.values() if c.section is not None]
    assert len(sections) == len(set(sections))
    assert all(c.note for c in COVERAGE.values())
    assert all(NOT_PERSONAL.values())


def test_every_covered_table_is_exported_or_says_why_not():
    for table, coverage in COVERAGE.items():
        assert (coverage.export is None) == (coverage.section is None), table
        assert coverage.erasure in ("deleted", "unlinked", "scrubbed", "kept"), table


def test_erasure_deletes_children_before_their_parents():
    order = list(COVERAGE)
    deleted = {t for t, c in COVERAGE.items() if c.erasure == "deleted"}
    by_name: dict[str, Any] = {t.name: t for t in metadata.sorted_tables}
    for child in deleted:
        for fk in by_name[child].foreign_keys:
            parent = fk.column.table.name
            if parent in deleted and parent != child:
                assert order.index(child) < order.index(parent), f"{child} before {parent}"
    assert order[-1] == ACCOUNTS

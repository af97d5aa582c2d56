"""The PostgreSQL half of the suite fails loudly, never silently, without a server."""

from __future__ import annotations

import pytest

from tests.support import postgres


def test_missing_binaries_give_a_clear_instruction(monkeypatch):
    monkeypatch.setattr(postgres.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(postgres.shutil, "which", lambda name: None)
    with pytest.raises(postgres.PostgresUnavailable) as caught:
        postgres.start_cluster()
    message = str(caught.value)
    assert "apt-get install -y postgresql" in message
    assert "IDENTITY_TEST_DATABASE_URL" in message

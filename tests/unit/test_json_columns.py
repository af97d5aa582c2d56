"""JSON columns are read with ``identity.db.json_loads``: what ``json.loads`` returns, or
raises, for every document, with less overhead per call."""

from __future__ import annotations

import json

import pytest

from identity.db import json_loads

DOCUMENTS = [
    '{"a": 1, "b": [true, null, "é\\u2028"]}',
    b'{"decision":"granted","record_id":5}',
    "  {}  ",  # whitespace around the value
    "[]",
    '"text"',
    "-12",
    "NaN",
    '{"n": 1.5e3}',
    b"  [1, 2]\n",
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_a_json_column_reads_as_json_loads_reads_it(document):
    value = json_loads(document)
    assert value == json.loads(document) or value != value  # NaN is not equal to itself
    assert type(value) is type(json.loads(document))


@pytest.mark.parametrize("document", ['{"a": 1} x', "", "{", '{"a": 1}{}', "[1,]"])
def test_a_malformed_json_column_raises_as_json_loads_does(document):
    with pytest.raises(json.JSONDecodeError):
        json.loads(document)
    with pytest.raises(json.JSONDecodeError):
        json_loads(document)

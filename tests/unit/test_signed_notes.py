"""Signed notes, keys and checkpoints: byte-for-byte Go's sumdb/note and the C2SP texts.

The PeterNeumann and EnochRoot keys and notes are the reference vectors of Go's
golang.org/x/mod/sumdb/note; Ed25519 is deterministic, so signing must reproduce them exactly.
"""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from identity.audit.notes import (
    Checkpoint,
    InvalidNoteSignature,
    MalformedNote,
    NoteError,
    NoteSigner,
    NoteVerifier,
    Signature,
    UnverifiedNote,
    key_id,
    open_checkpoint,
    open_note,
    parse_signer_key,
    parse_vkey,
    sign_note,
    vkey,
)

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdng"
    "otpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWL"
    "ox33WWd1RvMc+QQ=\n"
)
PETER = parse_vkey(PETER_VKEY)
ENOCH = parse_vkey(ENOCH_VKEY)

ROOT = hashlib.sha256(b"some root").digest()


def tamper(line: str, at: int = 60) -> str:
    """A signature line whose base64 still decodes but whose signature is no longer valid."""
    return line[:at] + "ABCD" + line[at:]


# -- Go's reference vectors --------------------------------------------------------------------


def test_signing_reproduces_gos_reference_note_byte_for_byte():
    assert sign_note(TEXT, parse_signer_key(PETER_SKEY)) == TEXT + "\n" + PETER_SIG


def test_the_go_key_encodings_round_trip():
    signer = parse_signer_key(PETER_SKEY)
    assert signer.signer_key() == PETER_SKEY
    assert vkey(signer.name, signer.public_key) == PETER_VKEY
    assert signer.verifier() == PETER
    assert (PETER.name, PETER.key_id) == ("PeterNeumann", 0xC74F20A3)


def test_a_key_id_is_the_first_four_bytes_of_sha256_of_name_newline_type_and_key():
    raw = PETER.public_key.public_bytes_raw()
    digest = hashlib.sha256(b"PeterNeumann\n\x01" + raw).digest()
    assert key_id("PeterNeumann", PETER.public_key) == int.from_bytes(digest[:4], "big")


def test_a_note_signed_by_two_keys_opens_with_either_or_both():
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert [s.name for s in open_note(note, [PETER]).signatures] == ["PeterNeumann"]
    assert [s.name for s in open_note(note, [ENOCH]).signatures] == ["EnochRoot"]
    text, signatures = open_note(note, [ENOCH, PETER])
    assert text == TEXT
    assert [(s.name, s.key_id) for s in signatures] == [
        ("PeterNeumann", 0xC74F20A3),
        ("EnochRoot", 0xAF0CFE78),
    ]


def test_signing_with_several_keys_writes_their_lines_in_order():
    a, b = NoteSigner.generate("log.example/a"), NoteSigner.generate("log.example/b")
    note = sign_note("hello\n", a, b)
    assert note.splitlines()[2].startswith("\u2014 log.example/a ")
    assert note.splitlines()[3].startswith("\u2014 log.example/b ")
    assert len(open_note(note, [a.verifier(), b.verifier()]).signatures) == 2


# -- What opening a note accepts and refuses ---------------------------------------------------


def test_a_note_round_trips_with_a_fresh_key():
    signer = NoteSigner.generate("identity.example/audit")
    note = sign_note("line one\n\nline three after a blank line\n", signer)
    opened = open_note(note.encode(), [parse_vkey(vkey(signer.name, signer.public_key))])
    assert opened.text == "line one\n\nline three after a blank line\n"
    assert opened.signatures[0] == Signature(
        signer.name, signer.key_id, opened.signatures[0].signature
    )


def test_a_signature_by_an_unknown_key_is_ignored():
    stranger = NoteSigner.generate("stranger.example")
    note = sign_note(TEXT, stranger) + PETER_SIG
    assert [s.name for s in open_note(note, [PETER]).signatures] == ["PeterNeumann"]
    # Even an unknown key's malformed-looking-but-well-formed garbage is skipped.
    assert open_note(TEXT + "\n" + tamper(ENOCH_SIG) + PETER_SIG, [PETER]).text == TEXT


def test_a_note_no_trusted_key_signed_is_refused():
    with pytest.raises(UnverifiedNote):
        open_note(TEXT + "\n" + PETER_SIG, [])
    with pytest.raises(UnverifiedNote):
        open_note(TEXT + "\n" + PETER_SIG, [ENOCH])


def test_a_signature_by_another_key_under_the_same_name_is_not_trusted():
    impostor = NoteSigner("PeterNeumann", Ed25519PrivateKey.generate())
    with pytest.raises(UnverifiedNote):
        open_note(sign_note(TEXT, impostor), [PETER])


def test_a_known_keys_failing_signature_rejects_the_whole_note():
    with pytest.raises(InvalidNoteSignature):
        open_note(TEXT + "\n" + tamper(PETER_SIG), [PETER])
    with pytest.raises(InvalidNoteSignature):
        open_note(TEXT + "\n" + ENOCH_SIG + tamper(PETER_SIG), [PETER, ENOCH])


def test_a_key_id_claimed_by_a_signature_must_match_the_verifier():
    # A verifier configured with a wrong key id never sees the signature: unknown, hence unsigned.
    wrong = NoteVerifier("PeterNeumann", PETER.key_id ^ 1, PETER.public_key)
    with pytest.raises(UnverifiedNote):
        open_note(TEXT + "\n" + PETER_SIG, [wrong])


def test_any_edit_to_the_signed_text_fails():
    for i, char in enumerate(TEXT[:-1]):
        edited = TEXT[:i] + ("X" if char != "X" else "Y") + TEXT[i + 1 :]
        with pytest.raises(NoteError):
            open_note(edited + "\n" + PETER_SIG, [PETER])


def test_an_extra_line_in_the_text_fails_and_an_extra_line_after_the_signatures_is_malformed():
    with pytest.raises(InvalidNoteSignature):
        open_note(TEXT + "an extra line\n\n" + PETER_SIG, [PETER])
    with pytest.raises(MalformedNote):
        open_note(TEXT + "\n" + PETER_SIG + "Unexpected line.\n", [PETER])


def test_a_repeated_signature_counts_once():
    note = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG
    assert len(open_note(note, [PETER]).signatures) == 1
    # Go verifies only the first line of a key and skips the rest, and so do we.
    assert len(open_note(TEXT + "\n" + PETER_SIG + tamper(PETER_SIG), [PETER]).signatures) == 1


def test_two_trusted_keys_with_the_same_name_and_id_are_ambiguous_when_used():
    with pytest.raises(NoteError, match="EnochRoot"):
        open_note(TEXT + "\n" + ENOCH_SIG, [ENOCH, PETER, ENOCH])
    assert open_note(TEXT + "\n" + PETER_SIG, [ENOCH, PETER, ENOCH]).text == TEXT


@pytest.mark.parametrize(
    "note",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT.replace("\n", "\r\n") + "\r\n" + PETER_SIG,
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name"),
        TEXT + "\n" + PETER_SIG.replace("\u2014", "-"),
        TEXT + "\n" + PETER_SIG.replace("\u2014 ", "\u2014"),
        TEXT + "\n" + PETER_SIG.replace("=\n", "\n"),
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann ", "PeterNeumann  "),
        TEXT + "\n" + "\u2014 PeterNeumann x08gow==\n",  # a key id and no signature
        TEXT + "\n" + PETER_SIG * 101,
        TEXT + "\n" + "\u2014 PeterNeumann\n",
        TEXT + "\n" + "\u2014  x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ=\n",
    ],
)
def test_a_malformed_note_is_refused(note):
    with pytest.raises(MalformedNote):
        open_note(note, [PETER])


def test_a_note_that_is_not_utf8_is_refused():
    with pytest.raises(MalformedNote):
        open_note(b"\xff" + (TEXT + "\n" + PETER_SIG).encode(), [PETER])


# -- Signing refuses what could not be opened --------------------------------------------------


@pytest.mark.parametrize("text", ["no final newline", "tab\there\n", "cr\r\n", "\ud800\n"])
def test_signing_refuses_text_a_reader_would_refuse(text):
    with pytest.raises(MalformedNote):
        sign_note(text, parse_signer_key(PETER_SKEY))


def test_signing_needs_a_signer():
    with pytest.raises(ValueError, match="signer"):
        sign_note(TEXT)


@pytest.mark.parametrize("name", ["", "a+b", "a b", "a\u00a0b", "tab\tname", "new\nline"])
def test_a_key_name_has_no_spaces_and_no_plus(name):
    with pytest.raises(MalformedNote):
        NoteSigner(name, Ed25519PrivateKey.generate())
    with pytest.raises(MalformedNote):
        NoteVerifier(name, 1, PETER.public_key)


def test_a_signer_never_shows_its_private_key():
    signer = parse_signer_key(PETER_SKEY)
    assert "AYEKFALV" not in repr(signer)
    assert repr(signer) == "NoteSigner('PeterNeumann', key_id=c74f20a3)"


# -- Key encodings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoded", "parse"), [(PETER_VKEY, parse_vkey), (PETER_SKEY, parse_signer_key)]
)
def test_every_truncation_or_single_character_change_of_a_key_is_refused(encoded, parse):
    for i in range(len(encoded) + 1):
        for j in range(i + 1, len(encoded) + 1):
            if (i, j) != (0, len(encoded)):
                with pytest.raises(MalformedNote):
                    parse(encoded[i:j])
    for i, char in enumerate(encoded):
        with pytest.raises(MalformedNote):
            parse(encoded[:i] + chr(ord(char) + 1) + encoded[i + 1 :])


@pytest.mark.parametrize(
    "encoded",
    [
        # Go's own: a key of the wrong length and an unknown algorithm, ids adjusted to match.
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+0xf20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n",
    ],
)
def test_a_vkey_of_another_shape_is_refused(encoded):
    with pytest.raises(MalformedNote):
        parse_vkey(encoded)


def test_a_vkey_id_may_be_written_in_upper_case_as_go_accepts():
    assert parse_vkey(PETER_VKEY.replace("c74f20a3", "C74F20A3")) == PETER


# -- Checkpoints -------------------------------------------------------------------------------

C2SP_EXAMPLE = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)


def test_the_c2sp_example_checkpoint_parses_and_prints_back_unchanged():
    checkpoint = Checkpoint.parse(C2SP_EXAMPLE)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert len(checkpoint.root_hash) == 32
    assert checkpoint.extensions == ()
    assert checkpoint.to_text() == C2SP_EXAMPLE


def test_a_checkpoint_with_extension_lines_round_trips():
    checkpoint = Checkpoint("identity.example/audit", 0, ROOT, ("ext one", "— ext two"))
    assert checkpoint.to_text().splitlines()[1:2] == ["0"]
    assert Checkpoint.parse(checkpoint.to_text()) == checkpoint


@pytest.mark.parametrize(
    "text",
    [
        C2SP_EXAMPLE[:-1],
        "example.com/log\n5\n",
        "\n5\n" + C2SP_EXAMPLE.split("\n")[2] + "\n",
        C2SP_EXAMPLE + "\n",
        C2SP_EXAMPLE + "\nextension after a blank line\n",
        C2SP_EXAMPLE.replace("\n", "\r\n"),
        C2SP_EXAMPLE.replace("20852163", "020852163"),
        C2SP_EXAMPLE.replace("20852163", "+20852163"),
        C2SP_EXAMPLE.replace("20852163", " 20852163"),
        C2SP_EXAMPLE.replace("20852163", "20_852_163"),
        C2SP_EXAMPLE.replace("20852163", "٢٠٨٥٢١٦٣"),
        C2SP_EXAMPLE.replace("20852163", "-1"),
        C2SP_EXAMPLE.replace("20852163", str(2**63)),
        C2SP_EXAMPLE.replace("q2I=", "q2I"),
        C2SP_EXAMPLE.replace("q2I=", "q2J="),  # the same bytes, non-canonical padding bits
        C2SP_EXAMPLE.replace("CsUY", "CsU"),
        C2SP_EXAMPLE.replace("CsUY", "Cs-Y"),
        C2SP_EXAMPLE.replace("CsUY", "CsUY CsUY"),
        C2SP_EXAMPLE.replace("example.com", "exam\x00ple.com"),
    ],
)
def test_checkpoint_parsing_is_strict(text):
    with pytest.raises(MalformedNote):
        Checkpoint.parse(text)


@pytest.mark.parametrize(
    "fields",
    [
        ("", 1, ROOT, ()),
        ("two\nlines", 1, ROOT, ()),
        ("origin", -1, ROOT, ()),
        ("origin", True, ROOT, ()),
        ("origin", 2**63, ROOT, ()),
        ("origin", 1, ROOT[:31], ()),
        ("origin", 1, ROOT, ("",)),
        ("origin", 1, ROOT, ("tab\tin an extension",)),
    ],
)
def test_a_checkpoint_that_would_not_parse_cannot_be_built(fields):
    with pytest.raises(MalformedNote):
        Checkpoint(*fields)


def test_opening_a_checkpoint_checks_the_signature_and_the_origin():
    signer = NoteSigner.generate("identity.example/audit")
    note = sign_note(Checkpoint("identity.example/audit", 7, ROOT).to_text(), signer)
    checkpoint = open_checkpoint(note, [signer.verifier()], origin="identity.example/audit")
    assert (checkpoint.size, checkpoint.root_hash) == (7, ROOT)
    with pytest.raises(UnverifiedNote):
        open_checkpoint(note, [signer.verifier()], origin="identity.example/other")
    with pytest.raises(UnverifiedNote):
        open_checkpoint(note, [PETER], origin="identity.example/audit")
    with pytest.raises(InvalidNoteSignature):
        open_checkpoint(note.replace("\n7\n", "\n8\n"), [signer.verifier()], origin="x")

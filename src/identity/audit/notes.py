"""Signed checkpoints in the C2SP formats: ``tlog-checkpoint``, ``signed-note`` and verifier keys.

A **checkpoint** is the log's signed statement "the first ``size`` entries of log ``origin``
have Merkle root ``root_hash``" (see :mod:`identity.audit.merkle`). With an inclusion proof it
shows that one entry is among them; with a consistency proof from an older checkpoint it shows
the log only appended since then and rewrote nothing. It does *not* show that everyone was
shown the same tree (a log can sign two diverging checkpoints; only parties who compare notes,
such as witnesses, catch that), that the log is fresh (an old checkpoint stays valid forever),
when it was signed, or that the logged events are true and complete: it commits to what was
logged, not to what happened.

A **signed note** (C2SP ``signed-note``, Go's ``golang.org/x/mod/sumdb/note``) is text ending in
a newline, a blank line, then lines ``— <key name> <base64(key id || signature)>``, the dash
being U+2014 EM DASH. The key id is the first four bytes of
``SHA-256(name || 0x0A || 0x01 || Ed25519 public key)``. Signatures by keys the reader does not
know are ignored, so keys can rotate and witnesses can add cosignatures; a known key whose
signature fails rejects the whole note, as Go does.

Keys travel as Go prints them: a verifier key (``vkey``) is ``<name>+<hex key id>+<base64(0x01
|| public key)>``, a signer key ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>``.
Ed25519 is PyCA ``cryptography``'s; nothing here is hand-written cryptography.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = 0x01  # the signature type byte C2SP signed-note assigns to Ed25519
SIGNATURE_PREFIX = "\u2014 "  # EM DASH and a space, never a hyphen
MAX_SIGNATURES = 100  # Go's limit; C2SP asks for at least 16
MAX_TREE_SIZE = 2**63 - 1  # Go's tlog counts records in an int64
HASH_SIZE = 32

_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_DECIMAL = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_KEY_ID = re.compile(r"[0-9a-fA-F]{8}", re.ASCII)


class NoteError(ValueError):
    """A note, checkpoint or key was refused."""


class MalformedNote(NoteError):
    """The text is not a well-formed signed note, checkpoint or key."""


class UnverifiedNote(NoteError):
    """No known key signed the note: its text must be ignored."""


class InvalidNoteSignature(NoteError):
    """A known key's signature on the note does not verify: the note is rejected."""


def key_id(name: str, public_key: Ed25519PublicKey) -> int:
    """The C2SP key id of an Ed25519 key: the first 4 bytes of SHA-256(name, LF, 0x01, key)."""
    return _key_id(name, bytes([ED25519]) + public_key.public_bytes_raw())


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """One trusted key: its name, its key id and its Ed25519 public key."""

    name: str
    key_id: int
    public_key: Ed25519PublicKey

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not 0 <= self.key_id < 2**32:
            raise MalformedNote("a key id is a 32-bit unsigned number")

    @classmethod
    def for_key(cls, name: str, public_key: Ed25519PublicKey) -> NoteVerifier:
        return cls(name, key_id(name, public_key), public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class NoteSigner:
    """A named Ed25519 signing key; its ``repr`` never shows the key."""

    __slots__ = ("_private_key", "key_id", "name", "public_key")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_name(name)
        self.name = name
        self._private_key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(name, self.public_key)

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        return cls(name, Ed25519PrivateKey.generate())

    def sign(self, message: bytes) -> bytes:
        return self._private_key.sign(message)

    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.key_id, self.public_key)

    def signer_key(self) -> str:
        """The secret key as Go's ``note.GenerateKey`` prints it; keep it secret."""
        seed = bytes([ED25519]) + self._private_key.private_bytes_raw()
        return f"PRIVATE+KEY+{self.name}+{self.key_id:08x}+{_b64(seed)}"

    def __repr__(self) -> str:
        return f"NoteSigner({self.name!r}, key_id={self.key_id:08x})"


@dataclass(frozen=True, slots=True)
class Signature:
    """A verified signature line: who signed, with which key, and the raw signature."""

    name: str
    key_id: int
    signature: bytes


class OpenedNote(NamedTuple):
    text: str
    signatures: tuple[Signature, ...]


def sign_note(text: str, *signers: NoteSigner) -> str:
    """The signed note: ``text``, a blank line, one signature line per signer (in order)."""
    if not signers:
        raise ValueError("a note needs at least one signer")
    message = _note_bytes(text)
    if not text.endswith("\n"):
        raise MalformedNote("note text must end with a newline")
    lines = [
        f"{SIGNATURE_PREFIX}{s.name} {_b64(s.key_id.to_bytes(4, 'big') + s.sign(message))}\n"
        for s in signers
    ]
    return text + "\n" + "".join(lines)


def open_note(note: str | bytes, verifiers: Iterable[NoteVerifier]) -> OpenedNote:
    """The text of ``note`` and its verified signatures, if at least one known key signed it.

    Raises :class:`MalformedNote`, :class:`InvalidNoteSignature` (a known key's signature
    fails) or :class:`UnverifiedNote` (no known key signed). Unknown keys' lines are skipped,
    as are repeats of a known key's line after its first.
    """
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedNote("a note must be UTF-8") from None
    _note_bytes(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise MalformedNote("a note needs a blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise MalformedNote("a note's signature lines must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote(f"a note may carry at most {MAX_SIGNATURES} signatures")
    known: dict[tuple[str, int], list[NoteVerifier]] = {}
    for verifier in verifiers:
        known.setdefault((verifier.name, verifier.key_id), []).append(verifier)
    message = text.encode()
    verified: list[Signature] = []
    seen: set[tuple[str, int]] = set()
    for line in lines:
        name, signature_id, signature = _parse_signature_line(line)
        candidates = known.get((name, signature_id), [])
        if not candidates or (name, signature_id) in seen:
            continue
        if len(candidates) > 1:
            raise NoteError(f"two trusted keys are named {name}+{signature_id:08x}")
        seen.add((name, signature_id))
        if not candidates[0].verify(message, signature):
            raise InvalidNoteSignature(f"the signature of {name}+{signature_id:08x} fails")
        verified.append(Signature(name, signature_id, signature))
    if not verified:
        raise UnverifiedNote("no trusted key signed this note")
    return OpenedNote(text, tuple(verified))


def vkey(name: str, public_key: Ed25519PublicKey) -> str:
    """The verifier key an operator publishes, as Go's ``note.NewEd25519VerifierKey``."""
    verifier = NoteVerifier.for_key(name, public_key)
    encoded = _b64(bytes([ED25519]) + public_key.public_bytes_raw())
    return f"{name}+{verifier.key_id:08x}+{encoded}"


def parse_vkey(text: str) -> NoteVerifier:
    """The verifier a ``vkey`` names, checking its key id as Go's ``note.NewVerifier`` does."""
    name, _, rest = text.partition("+")
    hex_id, _, encoded = rest.partition("+")
    raw = _key_bytes(name, hex_id, encoded)
    try:
        public_key = Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise MalformedNote("not an Ed25519 public key") from None
    verifier = NoteVerifier(name, int(hex_id, 16), public_key)
    _check_key_id(verifier.key_id, name, public_key)
    return verifier


def parse_signer_key(text: str) -> NoteSigner:
    """The signer a ``PRIVATE+KEY+...`` string holds, checking its key id against its seed."""
    private, _, rest = text.partition("+")
    key, _, rest = rest.partition("+")
    if (private, key) != ("PRIVATE", "KEY"):
        raise MalformedNote("a signer key starts with PRIVATE+KEY+")
    name, _, rest = rest.partition("+")
    hex_id, _, encoded = rest.partition("+")
    raw = _key_bytes(name, hex_id, encoded)
    try:
        signer = NoteSigner(name, Ed25519PrivateKey.from_private_bytes(raw))
    except ValueError:
        raise MalformedNote("not an Ed25519 seed") from None
    # The id was computed from the public key, which only the seed can give back.
    _check_key_id(int(hex_id, 16), name, signer.public_key)
    return signer


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """C2SP tlog-checkpoint: origin, tree size, root hash, then optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for line in (self.origin, *self.extensions):
            if not isinstance(line, str) or not line or "\n" in line:
                raise MalformedNote("checkpoint lines must be non-empty single lines of text")
            _note_bytes(line)
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise MalformedNote("a tree size is an integer")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedNote(f"a tree size is between 0 and {MAX_TREE_SIZE}")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise MalformedNote(f"a root hash is {HASH_SIZE} bytes")

    def to_text(self) -> str:
        lines = [self.origin, str(self.size), _b64(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Strictly: every line non-empty and newline-ended, the size in canonical decimal,
        the root hash in canonical base64 of exactly 32 bytes."""
        if not text.endswith("\n"):
            raise MalformedNote("checkpoint text ends with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3 or not all(lines):
            raise MalformedNote("a checkpoint has at least three lines, none of them empty")
        origin, size, root, *extensions = lines
        if not _DECIMAL.fullmatch(size):
            raise MalformedNote("a tree size is written in decimal without leading zeros")
        root_hash = _b64decode(root)
        if root_hash is None:
            raise MalformedNote("a root hash is written in padded standard base64")
        return cls(origin, int(size), root_hash, tuple(extensions))


def open_checkpoint(
    note: str | bytes, verifiers: Iterable[NoteVerifier], *, origin: str
) -> Checkpoint:
    """The checkpoint in ``note``, once a trusted key's signature and the origin check out."""
    checkpoint = Checkpoint.parse(open_note(note, verifiers).text)
    if checkpoint.origin != origin:
        raise UnverifiedNote(f"this checkpoint is for {checkpoint.origin!r}, not {origin!r}")
    return checkpoint


# -- Helpers -----------------------------------------------------------------------------------


def _key_id(name: str, key: bytes) -> int:
    return int.from_bytes(hashlib.sha256(name.encode() + b"\n" + key).digest()[:4], "big")


def _key_bytes(name: str, hex_id: str, encoded: str) -> bytes:
    """The 32 key bytes of a ``<name>+<hex id>+<base64(0x01 || key)>`` encoding."""
    raw = _b64decode(encoded)
    if not _KEY_ID.fullmatch(hex_id) or raw is None or not _is_valid_name(name):
        raise MalformedNote("a key is <name>+<8 hex digits>+<base64 key>")
    if raw[:1] != bytes([ED25519]) or len(raw) != 1 + 32:
        raise MalformedNote("only Ed25519 keys (type 0x01, 32 bytes) are supported")
    return raw[1:]


def _check_key_id(expected: int, name: str, public_key: Ed25519PublicKey) -> None:
    if expected != key_id(name, public_key):
        raise MalformedNote("the key id does not match the name and key")


def _parse_signature_line(line: str) -> tuple[str, int, bytes]:
    if not line.startswith(SIGNATURE_PREFIX):
        raise MalformedNote("a signature line starts with an em dash and a space")
    name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    raw = _b64decode(encoded)
    if raw is None or len(raw) < 5 or not _is_valid_name(name):
        raise MalformedNote("a signature line is '— <name> <base64(key id || signature)>'")
    return name, int.from_bytes(raw[:4], "big"), raw[4:]


def _note_bytes(text: str) -> bytes:
    """The UTF-8 of note text, refusing ASCII control characters other than newline."""
    if _CONTROL.search(text):
        raise MalformedNote("a note may not contain control characters other than newline")
    try:
        return text.encode()
    except UnicodeEncodeError:
        raise MalformedNote("a note must be valid Unicode") from None


def _is_valid_name(name: str) -> bool:
    """C2SP: non-empty, no Unicode spaces, no plus (which separates a key's fields)."""
    if not name or "+" in name or any(c.isspace() for c in name) or _CONTROL.search(name):
        return False
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _is_valid_name(name):
        raise MalformedNote(f"{name!r} is not a key name (non-empty, no spaces, no '+')")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _b64decode(text: str) -> bytes | None:
    """Standard padded base64, canonical only, so each value has exactly one spelling."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if _b64(raw) == text else None

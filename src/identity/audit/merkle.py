"""RFC 9162 §2.1 Merkle tree math over *stored hashes*, as pure functions (no database, no I/O).

The log is a Merkle tree whose leaves are the entries in sequence order. Hashing is RFC 9162's:
a leaf is ``SHA-256(0x00 || data)``, an interior node ``SHA-256(0x01 || left || right)``, and a
tree of ``n`` leaves splits at the largest power of two smaller than ``n``.

Stored hashes (the model of Go's ``golang.org/x/mod/sumdb/tlog``, after Crosby and Wallach,
"Efficient Data Structures for Tamper-Evident Logging", §3.3): every *complete* subtree, one of
``2**level`` leaves starting at leaf ``n * 2**level``, has a hash that never changes once its last
leaf is appended. Those hashes, and only those, are stored, in the dense order
:func:`stored_hash_index` gives. Appending a record adds its leaf hash plus one hash per
subtree it completes (fewer than two on average). Every root, inclusion proof and consistency
proof of any tree size up to the current one is then a combination of at most
``2 * ceil(log2(n))`` stored hashes, fetched in **one** call of ``read``: nothing is rebuilt, no
tree is held in memory, and the table is append-only like the log itself.

``read`` is any callable that takes a list of stored-hash indexes (ascending) and returns their
hashes in the same order, so a database answers a whole proof with one ``WHERE index IN (...)``.
Reads per call:

- :func:`stored_hashes_for_record`: at most one, of at most ``log2(n + 1)`` hashes;
- :func:`stored_hashes_for_batch` and :meth:`Frontier.of`: at most one for the whole batch, of
  at most ``1 + log2(n)``;
- :func:`tree_hash`: one, of at most ``1 + log2(n)`` hashes (none for the empty tree);
- :func:`prove_record` and :func:`prove_tree`: at most one, of at most ``2 * ceil(log2(t))``;
- :func:`check_record` and :func:`check_tree`: none, the verifier needs only the proof.

The indexes, the proofs and their order are Go's, so proofs interoperate with ``tlog`` and with
RFC 6962/9162 verifiers. One deliberate difference: the empty tree's hash is RFC 9162's
``SHA-256()`` (:data:`EMPTY_TREE_HASH`), where Go returns 32 zero bytes; no proof involves it.

Impossible requests (a leaf at or beyond the tree size, a consistency proof from a larger tree
to a smaller one, a negative size) raise :class:`ImpossibleRequest`; a proof that does not verify
raises :class:`ProofFailed`; a ``read`` that answers with the wrong number of hashes, or with
something other than 32-byte hashes, raises :class:`BadRead`. All are :class:`MerkleError`, a
:class:`ValueError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_TREE_HASH = hashlib.sha256(b"").digest()

HashReader = Callable[[Sequence[int]], Sequence[bytes]]


class MerkleError(ValueError):
    """A Merkle tree request or proof cannot be honoured."""


class ImpossibleRequest(MerkleError):
    """The request names a leaf or a tree size that cannot exist (caller's mistake)."""


class ProofFailed(MerkleError):
    """The proof does not show what it claims: the log, the proof or the claim is wrong."""


class BadRead(MerkleError):
    """``read`` returned the wrong number of hashes, or something that is not a hash."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: the hash of one log entry, ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: the hash of an interior node, ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


# -- Stored-hash coordinates -------------------------------------------------------------------


def stored_hash_index(level: int, n: int) -> int:
    """Where the hash of the ``n``-th complete subtree of ``2**level`` leaves is stored.

    The hash of a subtree is stored right after the leaf that completes it, the rightmost
    leaf ``m = (n + 1) * 2**level - 1``; before that leaf come ``m + m//2 + m//4 + ...`` hashes,
    which is ``2*m - popcount(m)``, then the ``level`` smaller subtrees that leaf completed.
    """
    if level < 0 or n < 0:
        raise ImpossibleRequest(f"no stored hash at level {level}, position {n}")
    last_leaf = ((n + 1) << level) - 1
    return 2 * last_leaf - last_leaf.bit_count() + level


def split_stored_hash_index(index: int) -> tuple[int, int]:
    """The inverse of :func:`stored_hash_index`: ``(level, n)`` for a storage index."""
    if index < 0:
        raise ImpossibleRequest(f"no stored hash at index {index}")
    # stored_hash_index(0, n) < 2n, so the leaf whose append wrote this hash is at least
    # index // 2 and, since each leaf writes 1 + its trailing ones, at most log2(index) further.
    n = index // 2
    start = stored_hash_index(0, n)
    while True:
        following = start + 1 + _trailing_ones(n)
        if following > index:
            break
        n += 1
        start = following
    level = index - start
    return level, n >> level


def stored_hash_count(n: int) -> int:
    """How many stored hashes a tree of ``n`` records has (the next free storage index)."""
    if n < 0:
        raise ImpossibleRequest(f"a tree cannot have {n} records")
    if n == 0:
        return 0
    return stored_hash_index(0, n - 1) + 1 + _trailing_ones(n - 1)


# -- Appending ---------------------------------------------------------------------------------


def stored_hashes_for_record(n: int, leaf: bytes, read: HashReader) -> list[bytes]:
    """The hashes to store, from index ``stored_hash_index(0, n)`` on, when record ``n`` is added.

    ``leaf`` is the record's :func:`leaf_hash`. The first result is ``leaf`` itself, then one
    hash per subtree the record completes, smallest first; ``read`` supplies their left halves.
    """
    _check_hash(leaf, "leaf hash")
    if n < 0:
        raise ImpossibleRequest(f"no record {n}")
    lefts = _read(read, _completed_left_indexes(n))
    hashes = [leaf]
    for left in reversed(lefts):
        hashes.append(node_hash(left, hashes[-1]))
    return hashes


def stored_hashes_for_batch(
    n: int, leaves: Sequence[bytes], read: HashReader
) -> list[tuple[int, bytes]]:
    """The ``(index, hash)`` rows to insert when ``leaves`` are appended to a tree of ``n`` records.

    The same rows as calling :func:`stored_hashes_for_record` for each leaf, but with one read
    for the whole batch (:meth:`Frontier.of`): the hashes a batch needs from before it are the
    tree's right edge, and the rest it makes itself. Their indexes are consecutive.
    """
    if not leaves:
        return []
    frontier = Frontier.of(n, read)
    hashes = [h for leaf in leaves for h in frontier.append(leaf)]
    return list(enumerate(hashes, start=stored_hash_count(n)))


def _completed_left_indexes(n: int) -> list[int]:
    """Storage indexes of the left halves of the subtrees record ``n`` completes, ascending.

    Each trailing one bit of ``n`` completes a subtree whose left half is the complete subtree
    just before it at that level.
    """
    count = _trailing_ones(n)
    return [stored_hash_index(level, (n >> level) - 1) for level in reversed(range(count))]


class Frontier:
    """The right edge of a tree grown one leaf at a time, in O(log n) memory: what a verifier
    streaming a whole log needs to recompute every stored hash and every root without a
    database. :meth:`append` returns exactly the stored hashes :func:`stored_hashes_for_record`
    would (their indexes are consecutive from ``stored_hash_index(0, n)``)."""

    def __init__(self) -> None:
        self.size = 0
        self._edge: list[bytes] = []  # complete subtrees, largest first (a binary counter)

    @classmethod
    def of(cls, n: int, read: HashReader) -> Frontier:
        """The right edge of the stored tree of ``n`` records, in one read of its complete
        subtrees (as many as ``n`` has one bits): appending to it continues that tree."""
        if n < 0:
            raise ImpossibleRequest(f"a tree cannot have {n} records")
        frontier = cls()
        frontier.size = n
        frontier._edge = _read(read, _subtree_indexes(0, n)) if n else []
        return frontier

    def copy(self) -> Frontier:
        twin = Frontier()
        twin.size, twin._edge = self.size, list(self._edge)
        return twin

    def append(self, leaf: bytes) -> list[bytes]:
        _check_hash(leaf, "leaf hash")
        new = [leaf]
        current = leaf
        for _ in range(_trailing_ones(self.size)):
            current = node_hash(self._edge.pop(), current)
            new.append(current)
        self._edge.append(current)
        self.size += 1
        return new

    def root(self) -> bytes:
        """The root hash of the tree of the leaves appended so far."""
        if not self._edge:
            return EMPTY_TREE_HASH
        current = self._edge[-1]
        for left in reversed(self._edge[:-1]):
            current = node_hash(left, current)
        return current


# -- Tree hashes and proofs --------------------------------------------------------------------


def tree_hash(n: int, read: HashReader) -> bytes:
    """RFC 9162 §2.1.1: the root hash of the tree of the first ``n`` records."""
    if n < 0:
        raise ImpossibleRequest(f"a tree cannot have {n} records")
    if n == 0:
        return EMPTY_TREE_HASH
    hashes = _read(read, _subtree_indexes(0, n))
    return _subtree_hash(0, n, hashes)


def prove_record(t: int, n: int, read: HashReader) -> list[bytes]:
    """RFC 9162 §2.1.3.1: the inclusion proof of record ``n`` in the tree of size ``t``.

    The proof lists sibling hashes from the leaf up to the root, as RFC 9162 orders them.
    """
    if not 0 <= n < t:
        raise ImpossibleRequest(f"record {n} is not in a tree of size {t}")
    need: list[int] = []
    _leaf_proof_indexes(0, t, n, need)
    hashes = _read(read, need)
    proof = _leaf_proof(0, t, n, hashes)
    if hashes:
        raise AssertionError("bug: unused hashes in prove_record")
    return proof


def check_record(proof: Sequence[bytes], t: int, root: bytes, n: int, leaf: bytes) -> None:
    """Raise :class:`ProofFailed` unless ``proof`` shows record ``n`` with hash ``leaf`` is in
    the tree of size ``t`` whose root hash is ``root`` (RFC 9162 §2.1.3.2)."""
    if not 0 <= n < t:
        raise ImpossibleRequest(f"record {n} is not in a tree of size {t}")
    _check_hash(root, "root hash")
    _check_hash(leaf, "leaf hash")
    _check_proof_hashes(proof)
    if _run_record_proof(list(proof), 0, t, n, leaf) != root:
        raise ProofFailed(f"the inclusion proof of record {n} does not lead to the root of {t}")


def prove_tree(t: int, n: int, read: HashReader) -> list[bytes]:
    """RFC 9162 §2.1.4.1: the consistency proof that the tree of size ``t`` extends size ``n``.

    Go's tlog and RFC 9162 agree on every case here; from ``n == t`` the proof is empty.
    """
    if not 1 <= n <= t:
        raise ImpossibleRequest(f"no consistency proof from size {n} to size {t}")
    need: list[int] = []
    _tree_proof_indexes(0, t, n, need)
    hashes = _read(read, need)
    proof = _tree_proof(0, t, n, hashes)
    if hashes:
        raise AssertionError("bug: unused hashes in prove_tree")
    return proof


def check_tree(proof: Sequence[bytes], t: int, root_t: bytes, n: int, root_n: bytes) -> None:
    """Raise :class:`ProofFailed` unless ``proof`` shows the tree of size ``t`` with root
    ``root_t`` contains, as its first ``n`` records, the tree with root ``root_n``
    (RFC 9162 §2.1.4.2)."""
    if not 1 <= n <= t:
        raise ImpossibleRequest(f"no consistency proof from size {n} to size {t}")
    _check_hash(root_t, "root hash")
    _check_hash(root_n, "root hash")
    _check_proof_hashes(proof)
    old, new = _run_tree_proof(list(proof), 0, t, n, root_n)
    if old != root_n or new != root_t:
        raise ProofFailed(f"the consistency proof from size {n} to size {t} does not hold")


# The recursions below walk RFC 9162's split: [lo, hi) is divided at lo + k, k being the
# largest power of two smaller than hi - lo. Left parts of a split are complete subtrees, so
# their hashes are stored; right parts are decomposed again. Each ``*_indexes`` function lists
# what its twin will consume, in the order it consumes it (which is ascending).


def _subtree_indexes(lo: int, hi: int) -> list[int]:
    """Stored hashes covering [lo, hi): its complete subtrees, largest first."""
    need = []
    while lo < hi:
        k, level = _split(hi - lo + 1)
        need.append(stored_hash_index(level, lo >> level))
        lo += k
    return need


def _subtree_hash(lo: int, hi: int, hashes: list[bytes]) -> bytes:
    """Fold the hashes :func:`_subtree_indexes` listed for [lo, hi), consuming them."""
    count = len(_subtree_indexes(lo, hi))
    parts, hashes[:count] = hashes[:count], []
    result = parts[-1]
    for part in reversed(parts[:-1]):
        result = node_hash(part, result)
    return result


def _leaf_proof_indexes(lo: int, hi: int, n: int, need: list[int]) -> None:
    if hi - lo == 1:
        return
    k, _ = _split(hi - lo)
    if n < lo + k:
        _leaf_proof_indexes(lo, lo + k, n, need)
        need.extend(_subtree_indexes(lo + k, hi))
    else:
        need.extend(_subtree_indexes(lo, lo + k))
        _leaf_proof_indexes(lo + k, hi, n, need)


def _leaf_proof(lo: int, hi: int, n: int, hashes: list[bytes]) -> list[bytes]:
    if hi - lo == 1:
        return []  # the verifier has the leaf hash
    k, _ = _split(hi - lo)
    if n < lo + k:
        proof = _leaf_proof(lo, lo + k, n, hashes)
        sibling = _subtree_hash(lo + k, hi, hashes)
    else:
        sibling = _subtree_hash(lo, lo + k, hashes)
        proof = _leaf_proof(lo + k, hi, n, hashes)
    return [*proof, sibling]


def _run_record_proof(proof: list[bytes], lo: int, hi: int, n: int, leaf: bytes) -> bytes:
    if hi - lo == 1:
        if proof:
            raise ProofFailed("the inclusion proof has more hashes than the tree has levels")
        return leaf
    if not proof:
        raise ProofFailed("the inclusion proof has fewer hashes than the tree has levels")
    k, _ = _split(hi - lo)
    sibling = proof[-1]
    if n < lo + k:
        return node_hash(_run_record_proof(proof[:-1], lo, lo + k, n, leaf), sibling)
    return node_hash(sibling, _run_record_proof(proof[:-1], lo + k, hi, n, leaf))


def _tree_proof_indexes(lo: int, hi: int, n: int, need: list[int]) -> None:
    if n == hi:
        if lo != 0:
            need.extend(_subtree_indexes(lo, hi))
        return
    k, _ = _split(hi - lo)
    if n <= lo + k:
        _tree_proof_indexes(lo, lo + k, n, need)
        need.extend(_subtree_indexes(lo + k, hi))
    else:
        need.extend(_subtree_indexes(lo, lo + k))
        _tree_proof_indexes(lo + k, hi, n, need)


def _tree_proof(lo: int, hi: int, n: int, hashes: list[bytes]) -> list[bytes]:
    if n == hi:
        # The old tree's own hash is known to the verifier; a subtree of it is not.
        return [] if lo == 0 else [_subtree_hash(lo, hi, hashes)]
    k, _ = _split(hi - lo)
    if n <= lo + k:
        proof = _tree_proof(lo, lo + k, n, hashes)
        other = _subtree_hash(lo + k, hi, hashes)
    else:
        other = _subtree_hash(lo, lo + k, hashes)
        proof = _tree_proof(lo + k, hi, n, hashes)
    return [*proof, other]


def _run_tree_proof(
    proof: list[bytes], lo: int, hi: int, n: int, old: bytes
) -> tuple[bytes, bytes]:
    """The implied hashes of [lo, hi) in the old tree and in the new one."""
    if n == hi:
        if lo == 0:
            if proof:
                raise ProofFailed("the consistency proof has hashes left over")
            return old, old
        if len(proof) != 1:
            raise ProofFailed("the consistency proof has the wrong number of hashes")
        return proof[0], proof[0]
    if not proof:
        raise ProofFailed("the consistency proof is too short")
    k, _ = _split(hi - lo)
    other = proof[-1]
    if n <= lo + k:
        old_hash, new_hash = _run_tree_proof(proof[:-1], lo, lo + k, n, old)
        return old_hash, node_hash(new_hash, other)
    old_hash, new_hash = _run_tree_proof(proof[:-1], lo + k, hi, n, old)
    return node_hash(other, old_hash), node_hash(other, new_hash)


# -- Small helpers -----------------------------------------------------------------------------


def _split(size: int) -> tuple[int, int]:
    """``(k, log2 k)`` for the largest power of two ``k`` smaller than ``size`` (``size >= 2``)."""
    level = (size - 1).bit_length() - 1
    return 1 << level, level


def _trailing_ones(n: int) -> int:
    return ((n + 1) & -(n + 1)).bit_length() - 1


def _read(read: HashReader, indexes: list[int]) -> list[bytes]:
    if not indexes:
        return []
    hashes = list(read(indexes))
    if len(hashes) != len(indexes):
        raise BadRead(f"asked for {len(indexes)} stored hashes, got {len(hashes)}")
    for value in hashes:
        _check_hash(value, "stored hash", error=BadRead)
    return hashes


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for value in proof:
        _check_hash(value, "proof hash", error=ProofFailed)


def _check_hash(value: object, what: str, error: type[MerkleError] = ImpossibleRequest) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise error(f"a {what} must be {HASH_SIZE} bytes")

"""The Merkle tree core: RFC 9162 hashing and proofs over Go tlog's stored hashes.

Three independent witnesses hold it in place: the published RFC 6962 test vectors (as collected
in transparency-dev/merkle), a naive recursive tree written here straight from RFC 9162 §2.1,
and Go's stored-hash formulas transcribed from golang.org/x/mod/sumdb/tlog.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest

from identity.audit.merkle import (
    EMPTY_TREE_HASH,
    BadRead,
    ImpossibleRequest,
    MerkleError,
    ProofFailed,
    check_record,
    check_tree,
    leaf_hash,
    node_hash,
    prove_record,
    prove_tree,
    split_stored_hash_index,
    stored_hash_count,
    stored_hash_index,
    stored_hashes_for_batch,
    stored_hashes_for_record,
    tree_hash,
)

# RFC 6962 reference leaves and the roots of the trees of their first 0..8 entries.
VECTOR_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
VECTOR_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, proof), leaf indexes from zero.
VECTOR_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (old size, new size, proof).
VECTOR_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


# -- A naive reference, straight from RFC 9162 §2.1 (and RFC 6962 §2.1.2 for SUBPROOF) ---------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_root(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _k(len(leaves))
    return node_hash(ref_root(leaves[:k]), ref_root(leaves[k:]))


def ref_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return [*ref_path(m, leaves[:k]), ref_root(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), ref_root(leaves[:k])]


def ref_subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [ref_root(leaves)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, leaves[:k], complete), ref_root(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), ref_root(leaves[:k])]


# -- Go's stored-hash formulas, transcribed as loops from tlog.go ------------------------------


def go_stored_hash_index(level: int, n: int) -> int:
    for _ in range(level):
        n = 2 * n + 1
    i = 0
    while n > 0:
        i += n
        n >>= 1
    return i + level


def go_stored_hash_count(n: int) -> int:
    if n == 0:
        return 0
    count = go_stored_hash_index(0, n - 1) + 1
    i = n - 1
    while i & 1:
        count += 1
        i >>= 1
    return count


# -- A stored-hash table in memory, standing in for the database -------------------------------


class Store:
    """An append-only list of stored hashes that records every read."""

    def __init__(self) -> None:
        self.hashes: list[bytes] = []
        self.reads: list[list[int]] = []

    def read(self, indexes: Sequence[int]) -> list[bytes]:
        assert list(indexes) == sorted(set(indexes)), "reads ask in ascending order"
        self.reads.append(list(indexes))
        return [self.hashes[i] for i in indexes]

    def append(self, leaf: bytes) -> None:
        n = self.size
        self.hashes.extend(stored_hashes_for_record(n, leaf, self.read))

    @property
    def size(self) -> int:
        n = 0
        while stored_hash_count(n + 1) <= len(self.hashes):
            n += 1
        return n


def leaves_for(count: int) -> list[bytes]:
    return [leaf_hash(f"entry {i}".encode()) for i in range(count)]


def store_of(leaves: Sequence[bytes]) -> Store:
    store = Store()
    for leaf in leaves:
        store.append(leaf)
    store.reads.clear()
    return store


LEAVES_64 = leaves_for(64)
STORE_64 = store_of(LEAVES_64)
ROOTS_64 = [ref_root(LEAVES_64[:n]) for n in range(65)]


# -- Hashing -----------------------------------------------------------------------------------


def test_leaf_and_node_hashes_are_domain_separated_by_a_prefix_byte():
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    left, right = b"L" * 32, b"R" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()


def test_the_empty_tree_hashes_to_sha256_of_nothing_as_rfc_9162_says():
    assert tree_hash(0, Store().read) == EMPTY_TREE_HASH == bytes.fromhex(VECTOR_ROOTS[0])


def test_tree_hashes_match_the_rfc_6962_reference_roots_for_sizes_0_to_8():
    store = store_of([leaf_hash(data) for data in VECTOR_LEAVES])
    assert [tree_hash(n, store.read).hex() for n in range(9)] == VECTOR_ROOTS


@pytest.mark.parametrize(("n", "t", "expected"), VECTOR_INCLUSION)
def test_inclusion_proofs_match_the_rfc_6962_reference_vectors(n, t, expected):
    leaves = [leaf_hash(data) for data in VECTOR_LEAVES]
    proof = prove_record(t, n, store_of(leaves).read)
    assert [h.hex() for h in proof] == expected
    check_record(proof, t, bytes.fromhex(VECTOR_ROOTS[t]), n, leaves[n])


@pytest.mark.parametrize(("n", "t", "expected"), VECTOR_CONSISTENCY)
def test_consistency_proofs_match_the_rfc_6962_reference_vectors(n, t, expected):
    store = store_of([leaf_hash(data) for data in VECTOR_LEAVES])
    proof = prove_tree(t, n, store.read)
    assert [h.hex() for h in proof] == expected
    check_tree(proof, t, bytes.fromhex(VECTOR_ROOTS[t]), n, bytes.fromhex(VECTOR_ROOTS[n]))


def test_every_tree_hash_up_to_size_64_matches_a_naive_recursive_tree():
    assert [tree_hash(n, STORE_64.read) for n in range(65)] == ROOTS_64


# -- Proofs, exhaustively on small trees -------------------------------------------------------


def test_an_inclusion_proof_verifies_for_every_leaf_of_every_tree_size_up_to_64():
    for t in range(1, 65):
        for n in range(t):
            proof = prove_record(t, n, STORE_64.read)
            assert proof == ref_path(n, LEAVES_64[:t]), (n, t)
            check_record(proof, t, ROOTS_64[t], n, LEAVES_64[n])


def test_a_consistency_proof_verifies_between_every_pair_of_sizes_up_to_64():
    for t in range(1, 65):
        for n in range(1, t + 1):
            proof = prove_tree(t, n, STORE_64.read)
            assert proof == ref_subproof(n, LEAVES_64[:t], True), (n, t)
            check_tree(proof, t, ROOTS_64[t], n, ROOTS_64[n])


def inclusion_tamperings(proof: list[bytes]) -> list[list[bytes]]:
    other = hashlib.sha256(b"some other hash").digest()
    tampered = [[*proof, other], [other, *proof], [*proof, proof[0]] if proof else [other]]
    for i in range(len(proof)):
        flipped = bytearray(proof[i])
        flipped[0] ^= 8
        tampered.append([*proof[:i], bytes(flipped), *proof[i + 1 :]])
        tampered.append(proof[:i] + proof[i + 1 :])
        tampered.append([*proof[:i], other, *proof[i:]])
    return tampered


def test_a_tampered_inclusion_proof_fails_for_every_leaf_of_every_tree_size_up_to_32():
    for t in range(1, 33):
        for n in range(t):
            proof = prove_record(t, n, STORE_64.read)
            for bad in inclusion_tamperings(proof):
                with pytest.raises(ProofFailed):
                    check_record(bad, t, ROOTS_64[t], n, LEAVES_64[n])


def test_an_inclusion_proof_does_not_verify_another_leaf_index_leaf_or_root():
    for t in range(2, 33):
        for n in range(t):
            proof = prove_record(t, n, STORE_64.read)
            for other in range(t):
                if other != n:
                    with pytest.raises(ProofFailed):
                        check_record(proof, t, ROOTS_64[t], other, LEAVES_64[n])
            with pytest.raises(ProofFailed):
                check_record(proof, t, ROOTS_64[t], n, LEAVES_64[(n + 1) % t])
            with pytest.raises(ProofFailed):
                check_record(proof, t, ROOTS_64[t - 1], n, LEAVES_64[n])


def test_an_inclusion_proof_fails_against_the_root_of_any_other_tree_size():
    # The proof itself does not name the tree size; the signed root does.
    for t in range(1, 33):
        for n in range(t):
            proof = prove_record(t, n, STORE_64.read)
            for other in range(n + 1, 65):
                if other != t:
                    with pytest.raises(ProofFailed):
                        check_record(proof, other, ROOTS_64[other], n, LEAVES_64[n])


def test_a_tampered_consistency_proof_fails_between_every_pair_of_sizes_up_to_32():
    for t in range(2, 33):
        for n in range(1, t):
            proof = prove_tree(t, n, STORE_64.read)
            for bad in inclusion_tamperings(proof):
                with pytest.raises(ProofFailed):
                    check_tree(bad, t, ROOTS_64[t], n, ROOTS_64[n])
            with pytest.raises(ProofFailed):
                check_tree(proof, t, ROOTS_64[n], n, ROOTS_64[t])  # roots swapped
            with pytest.raises(ProofFailed):
                check_tree([], t, ROOTS_64[t], n, ROOTS_64[n])


def test_a_consistency_proof_fails_for_any_other_pair_of_sizes():
    for t in range(2, 17):
        for n in range(1, t):
            proof = prove_tree(t, n, STORE_64.read)
            for n2 in range(1, 17):
                for t2 in range(n2, 17):
                    if (n2, t2) != (n, t):
                        with pytest.raises(MerkleError):
                            check_tree(proof, t2, ROOTS_64[t2], n2, ROOTS_64[n2])


def test_a_tree_is_consistent_with_itself_by_an_empty_proof_only():
    check_tree([], 5, ROOTS_64[5], 5, ROOTS_64[5])
    with pytest.raises(ProofFailed):
        check_tree([ROOTS_64[5]], 5, ROOTS_64[5], 5, ROOTS_64[5])
    with pytest.raises(ProofFailed):
        check_tree([], 5, ROOTS_64[5], 5, ROOTS_64[4])


def test_a_proof_holding_something_other_than_32_byte_hashes_fails():
    proof = prove_record(8, 3, STORE_64.read)
    with pytest.raises(ProofFailed):
        check_record([*proof[:-1], proof[-1][:31]], 8, ROOTS_64[8], 3, LEAVES_64[3])
    with pytest.raises(ProofFailed):
        check_tree(["not bytes"], 2, ROOTS_64[2], 1, ROOTS_64[1])  # type: ignore[list-item]


# -- The stored-hash layout is Go's ------------------------------------------------------------


def test_stored_hash_indexes_match_gos_formula():
    for level in range(12):
        for n in range(300):
            assert stored_hash_index(level, n) == go_stored_hash_index(level, n), (level, n)
    assert stored_hash_index(40, 3**20) == go_stored_hash_index(40, 3**20)


def test_splitting_a_stored_hash_index_gives_back_its_level_and_position():
    for index in range(5000):
        level, n = split_stored_hash_index(index)
        assert stored_hash_index(level, n) == index
    for level, n in [(0, 2**62), (17, 123456789), (62, 1)]:
        assert split_stored_hash_index(stored_hash_index(level, n)) == (level, n)


def test_stored_hash_counts_match_gos_formula_and_what_appending_writes():
    store = Store()
    for n in range(300):
        assert stored_hash_count(n) == go_stored_hash_count(n) == len(store.hashes)
        store.append(leaf_hash(b"%d" % n))
    assert stored_hash_count(2**40 + 12345) == go_stored_hash_count(2**40 + 12345)


def test_appending_record_n_writes_its_leaf_then_one_hash_per_completed_subtree():
    store = store_of(LEAVES_64[:7])
    written = stored_hashes_for_record(7, LEAVES_64[7], store.read)
    assert written == [
        LEAVES_64[7],
        ref_root(LEAVES_64[6:8]),
        ref_root(LEAVES_64[4:8]),
        ref_root(LEAVES_64[0:8]),
    ]
    assert store.reads == [
        [stored_hash_index(2, 0), stored_hash_index(1, 2), stored_hash_index(0, 6)]
    ]


def test_appending_a_batch_stores_the_same_rows_as_appending_one_record_at_a_time():
    for start in range(0, 40):
        for count in [0, 1, 2, 3, 5, 8, 13, 24]:
            store = store_of(LEAVES_64[:start])
            rows = stored_hashes_for_batch(start, LEAVES_64[start : start + count], store.read)
            first, expected = stored_hash_count(start), STORE_64.hashes
            assert rows == [
                (i, expected[i]) for i in range(first, stored_hash_count(start + count))
            ], (start, count)
            assert len(store.reads) <= 1
            assert all(len(r) <= max(start, 1).bit_length() for r in store.reads)


def test_a_batch_reads_nothing_when_the_tree_before_it_is_empty():
    store = Store()
    stored_hashes_for_batch(0, LEAVES_64, store.read)
    assert store.reads == []


def test_each_proof_and_root_costs_one_read_of_at_most_two_log2_hashes():
    for t in range(1, 65):
        limit = 2 * max(1, (t - 1).bit_length())
        for n in range(t):
            STORE_64.reads.clear()
            prove_record(t, n, STORE_64.read)
            prove_tree(t, n + 1, STORE_64.read)
            tree_hash(t, STORE_64.read)
            assert len(STORE_64.reads) <= 3
            assert all(len(r) <= limit for r in STORE_64.reads), (n, t, STORE_64.reads)
    STORE_64.reads.clear()


# -- Refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [
        lambda read: prove_record(5, 5, read),
        lambda read: prove_record(0, 0, read),
        lambda read: prove_record(5, -1, read),
        lambda read: prove_tree(3, 4, read),
        lambda read: prove_tree(3, 0, read),
        lambda read: tree_hash(-1, read),
        lambda read: stored_hash_index(-1, 0),
        lambda read: split_stored_hash_index(-1),
        lambda read: stored_hash_count(-1),
        lambda read: stored_hashes_for_record(-1, LEAVES_64[0], read),
        lambda read: stored_hashes_for_record(0, b"short", read),
        lambda read: stored_hashes_for_batch(0, [b"short"], read),
        lambda read: check_record([], 1, ROOTS_64[1], 1, LEAVES_64[0]),
        lambda read: check_record([], 1, ROOTS_64[1][:4], 0, LEAVES_64[0]),
        lambda read: check_tree([], 3, ROOTS_64[3], 4, ROOTS_64[4]),
        lambda read: check_tree([], 3, ROOTS_64[3], 0, EMPTY_TREE_HASH),
    ],
)
def test_an_impossible_request_raises_a_value_error_naming_it(request_):
    with pytest.raises(ImpossibleRequest) as caught:
        request_(STORE_64.read)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value)


def test_a_reader_returning_the_wrong_number_of_hashes_is_refused():
    with pytest.raises(BadRead):
        tree_hash(3, lambda indexes: [LEAVES_64[0]])
    with pytest.raises(BadRead):
        prove_record(4, 0, lambda indexes: [b"short" for _ in indexes])


def test_a_frontier_recomputes_every_stored_hash_and_root_of_a_growing_tree():
    from identity.audit.merkle import Frontier

    stored: list[bytes] = []

    def read(indexes):
        return [stored[i] for i in indexes]

    frontier = Frontier()
    for n in range(70):
        leaf = leaf_hash(f"entry {n}".encode())
        expected = stored_hashes_for_record(n, leaf, read)
        assert frontier.append(leaf) == expected
        stored.extend(expected)
        assert frontier.root() == tree_hash(n + 1, read)

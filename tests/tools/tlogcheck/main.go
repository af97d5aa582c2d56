// Command tlogcheck is an independent verifier for the audit transparency log.
//
// It checks what identity's Python code produced using only Go's standard library and
// golang.org/x/mod/sumdb/{tlog,note}, the implementation behind the Go checksum database.
// It reads one JSON document on stdin:
//
//	{
//	  "vkey": "name+hex+base64",             the log's verifier key
//	  "origin": "identity.example/audit",     the expected checkpoint origin
//	  "checkpoint": "<signed note>",          a C2SP tlog-checkpoint signed by vkey
//	  "records": [{"index": 3, "data": "<base64>", "proof": ["<base64 hash>", ...]}],
//	                                          a purged record gives its leaf hash instead
//	                                          of its data: {"index": 4, "hash": "<base64>", ...}
//	  "old_checkpoint": "<signed note>",      optional, with
//	  "consistency_proof": ["<base64 hash>"], the proof from old_checkpoint to checkpoint
//	  "log": {"records": ["<base64>"], "stored_hashes": ["<base64 hash>"]}   optional
//	}
//
// With "log", it also rebuilds the stored hashes itself with tlog.StoredHashes and requires
// them, and the proofs it derives from them, to equal the ones given.
//
// It prints a JSON verdict and exits 0 if everything verified, 1 if anything did not,
// 2 if the input could not be read.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type record struct {
	Index int64       `json:"index"`
	Data  []byte      `json:"data"`
	Hash  *tlog.Hash  `json:"hash"`
	Proof []tlog.Hash `json:"proof"`
}

// leaf is the record's hash: tlog's RecordHash of its data, or, for a record whose data was
// purged, the leaf hash given in its place.
func (r record) leaf() tlog.Hash {
	if r.Hash != nil {
		return *r.Hash
	}
	return tlog.RecordHash(r.Data)
}

type input struct {
	Vkey             string      `json:"vkey"`
	Origin           string      `json:"origin"`
	Checkpoint       string      `json:"checkpoint"`
	Records          []record    `json:"records"`
	OldCheckpoint    string      `json:"old_checkpoint"`
	ConsistencyProof []tlog.Hash `json:"consistency_proof"`
	Log              *struct {
		Records      [][]byte    `json:"records"`
		StoredHashes []tlog.Hash `json:"stored_hashes"`
	} `json:"log"`
}

type verdict struct {
	OK             bool     `json:"ok"`
	Error          string   `json:"error,omitempty"`
	Origin         string   `json:"origin,omitempty"`
	Size           int64    `json:"size"`
	Root           string   `json:"root,omitempty"`
	Signers        []string `json:"signers,omitempty"`
	RecordsChecked int      `json:"records_checked"`
	ConsistentFrom *int64   `json:"consistent_from,omitempty"`
	StoredHashes   int      `json:"stored_hashes_checked"`
}

type checkpoint struct {
	origin string
	tree   tlog.Tree
}

func main() {
	var in input
	dec := json.NewDecoder(os.Stdin)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		finish(&verdict{Error: "reading input: " + err.Error()}, 2)
	}
	v := &verdict{}
	if err := check(&in, v); err != nil {
		v.Error = err.Error()
		finish(v, 1)
	}
	v.OK = true
	finish(v, 0)
}

func finish(v *verdict, code int) {
	out, _ := json.Marshal(v)
	fmt.Println(string(out))
	os.Exit(code)
}

func check(in *input, v *verdict) error {
	verifier, err := note.NewVerifier(in.Vkey)
	if err != nil {
		return fmt.Errorf("vkey: %w", err)
	}
	verifiers := note.VerifierList(verifier)

	cur, signers, err := openCheckpoint(in.Checkpoint, verifiers, in.Origin)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	v.Origin, v.Size, v.Root, v.Signers = cur.origin, cur.tree.N, cur.tree.Hash.String(), signers

	for _, r := range in.Records {
		if err := tlog.CheckRecord(r.Proof, cur.tree.N, cur.tree.Hash, r.Index, r.leaf()); err != nil {
			return fmt.Errorf("record %d: %w", r.Index, err)
		}
		v.RecordsChecked++
	}

	var old *tlog.Tree
	if in.OldCheckpoint != "" {
		c, _, err := openCheckpoint(in.OldCheckpoint, verifiers, in.Origin)
		if err != nil {
			return fmt.Errorf("old checkpoint: %w", err)
		}
		if err := tlog.CheckTree(in.ConsistencyProof, cur.tree.N, cur.tree.Hash, c.tree.N, c.tree.Hash); err != nil {
			return fmt.Errorf("consistency from %d to %d: %w", c.tree.N, cur.tree.N, err)
		}
		old = &c.tree
		v.ConsistentFrom = &c.tree.N
	}

	if in.Log != nil {
		n, err := checkLog(in, cur.tree, old)
		if err != nil {
			return fmt.Errorf("stored hashes: %w", err)
		}
		v.StoredHashes = n
	}
	return nil
}

// openCheckpoint verifies the note with Go's note.Open and parses its text per C2SP
// tlog-checkpoint (Go 1.19's tlog.ParseTree only knows the go.sum origin line).
func openCheckpoint(msg string, verifiers note.Verifiers, origin string) (checkpoint, []string, error) {
	n, err := note.Open([]byte(msg), verifiers)
	if err != nil {
		return checkpoint{}, nil, err
	}
	c, err := parseCheckpoint(n.Text)
	if err != nil {
		return checkpoint{}, nil, err
	}
	if c.origin != origin {
		return checkpoint{}, nil, fmt.Errorf("origin %q, want %q", c.origin, origin)
	}
	var signers []string
	for _, s := range n.Sigs {
		signers = append(signers, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
	}
	return c, signers, nil
}

func parseCheckpoint(text string) (checkpoint, error) {
	malformed := errors.New("malformed checkpoint")
	if !strings.HasSuffix(text, "\n") {
		return checkpoint{}, malformed
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return checkpoint{}, malformed
	}
	for _, l := range lines {
		if l == "" {
			return checkpoint{}, malformed
		}
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || lines[1] != strconv.FormatInt(size, 10) {
		return checkpoint{}, malformed
	}
	hash, err := tlog.ParseHash(lines[2])
	if err != nil || lines[2] != hash.String() {
		return checkpoint{}, malformed
	}
	return checkpoint{lines[0], tlog.Tree{N: size, Hash: hash}}, nil
}

type storage []tlog.Hash

func (s storage) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(s)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = s[x]
	}
	return out, nil
}

// checkLog rebuilds the stored hashes from the records and compares everything derived.
func checkLog(in *input, tree tlog.Tree, old *tlog.Tree) (int, error) {
	if int64(len(in.Log.Records)) != tree.N {
		return 0, fmt.Errorf("%d records for a tree of %d", len(in.Log.Records), tree.N)
	}
	var mine storage
	for i, data := range in.Log.Records {
		hashes, err := tlog.StoredHashes(int64(i), data, mine)
		if err != nil {
			return 0, err
		}
		mine = append(mine, hashes...)
	}
	if int64(len(mine)) != tlog.StoredHashCount(tree.N) {
		return 0, errors.New("tlog disagrees with itself on the stored hash count")
	}
	if len(in.Log.StoredHashes) != len(mine) {
		return 0, fmt.Errorf("%d stored hashes given, tlog stores %d", len(in.Log.StoredHashes), len(mine))
	}
	for i := range mine {
		if mine[i] != in.Log.StoredHashes[i] {
			level, n := tlog.SplitStoredHashIndex(int64(i))
			return 0, fmt.Errorf("stored hash %d (level %d, n %d) differs", i, level, n)
		}
	}
	if tree.N > 0 {
		root, err := tlog.TreeHash(tree.N, mine)
		if err != nil {
			return 0, err
		}
		if root != tree.Hash {
			return 0, errors.New("the checkpoint's root is not the tree hash of the records")
		}
	}
	for _, r := range in.Records {
		proof, err := tlog.ProveRecord(tree.N, r.Index, mine)
		if err != nil {
			return 0, err
		}
		if !sameHashes(proof, r.Proof) {
			return 0, fmt.Errorf("tlog proves record %d differently", r.Index)
		}
	}
	if old != nil {
		proof, err := tlog.ProveTree(tree.N, old.N, mine)
		if err != nil {
			return 0, err
		}
		if !sameHashes(proof, in.ConsistencyProof) {
			return 0, fmt.Errorf("tlog proves consistency from %d differently", old.N)
		}
	}
	return len(mine), nil
}

func sameHashes(a, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

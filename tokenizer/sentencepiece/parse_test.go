package sentencepiece

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// pb builds protobuf messages for the tests: each method appends one field.
type pb []byte

func (p pb) key(f, wire int) pb        { return binary.AppendUvarint(p, uint64(f<<3|wire)) }
func (p pb) varint(f int, v uint64) pb { return binary.AppendUvarint(p.key(f, 0), v) }
func (p pb) bytes(f int, b []byte) pb {
	return append(binary.AppendUvarint(p.key(f, 2), uint64(len(b))), b...)
}
func (p pb) fixed32(f int, v uint32) pb { return binary.LittleEndian.AppendUint32(p.key(f, 5), v) }
func (p pb) fixed64(f int, v uint64) pb { return binary.LittleEndian.AppendUint64(p.key(f, 1), v) }

// piece is a SentencePiece piece message: text, score and type, then unknown fields (a
// later version's) of each wire type, which parsing must skip.
func pieceMsg(text string, score float32, typ int) []byte {
	return pb(nil).bytes(1, []byte(text)).fixed32(2, math.Float32bits(score)).varint(3, uint64(typ)).
		bytes(9, []byte("future")).fixed32(10, math.Float32bits(99)).varint(11, 7).fixed64(12, 1)
}

// tinyModel is a model of the given pieces (an unknown piece first), with normalizer_spec
// spec when not nil.
func tinyModel(spec []byte, pieces ...[]byte) []byte {
	m := pb(nil).bytes(1, pieceMsg("<unk>", 0, typeUnknown))
	for _, p := range pieces {
		m = m.bytes(1, p)
	}
	m = m.bytes(2, pb(nil).varint(3, 1).varint(7, 5)) // trainer_spec: unigram, an unknown field
	if spec != nil {
		m = m.bytes(3, spec)
	}
	return m.fixed64(99, 42) // an unknown field last: its 8 bytes end the file
}

// TestParseRefuses: every way a model file can be wrong gives an Error saying which.
func TestParseRefuses(t *testing.T) {
	ok := pieceMsg("a", -1, typeNormal)
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"piece not a message", pb(nil).varint(1, 3), "piece: wire type 0"},
		{"trainer_spec not a message", append(tinyModel(nil, ok), pb(nil).varint(2, 1)...), "trainer_spec: wire type 0"},
		{"normalizer_spec not a message", append(tinyModel(nil, ok), pb(nil).varint(3, 1)...), "normalizer_spec: wire type 0"},
		{"BPE", append(tinyModel(nil, ok), pb(nil).bytes(2, pb(nil).varint(3, 2))...), "model type 2: only unigram (1) is supported"},
		{"no pieces", pb(nil).bytes(2, pb(nil).varint(3, 1)), "no pieces"},
		{"empty piece", tinyModel(nil, pieceMsg("", -1, typeNormal)), "piece 1 is empty"},
		{"text as a number", tinyModel(nil, pb(nil).varint(1, 7).fixed32(2, 0)), "piece 1 is empty"},
		{"duplicate", tinyModel(nil, ok, pieceMsg("a", -2, typeUserDefined)), `piece "a" appears twice`},
		{"two unknown", tinyModel(nil, pieceMsg("<u2>", 0, typeUnknown)), "two unknown pieces"},
		{"bad type", tinyModel(nil, pieceMsg("b", -1, 9)), "piece 1 has type 9"},
		{"no unknown", pb(nil).bytes(1, ok), "no unknown piece"},
		{"truncated key", []byte{0x80}, "truncated field key"},
		{"truncated varint", pb(nil).key(7, 0).bytes(0, nil)[:1], "field 7: truncated varint"},
		{"truncated fixed64", append(pb(nil).key(7, 1), 1, 2, 3), "field 7: truncated"},
		{"truncated fixed32", append(pb(nil).key(7, 5), 1, 2, 3), "field 7: truncated"},
		{"length past the end", append(pb(nil).key(7, 2), 5, 1, 2), "field 7: length past the end"},
		{"length missing", pb(nil).key(7, 2), "field 7: length past the end"},
		{"group wire type", pb(nil).key(7, 3), "field 7: wire type 3"},
		{"charsmap too short", tinyModel(pb(nil).bytes(2, []byte{1, 0}), ok), "precompiled_charsmap of 2 bytes"},
		{"charsmap of a size alone", tinyModel(pb(nil).bytes(2, []byte{4, 0, 0, 0}), ok), "trie of 4 bytes in 4"},
		{"trie size not whole units", tinyModel(pb(nil).bytes(2, []byte{6, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}), ok), "trie of 6 bytes in 12"},
		{"trie past the map", tinyModel(pb(nil).bytes(2, []byte{12, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}), ok), "trie of 12 bytes in 12"},
		{"empty trie", tinyModel(pb(nil).bytes(2, []byte{0, 0, 0, 0, 1, 2, 3, 4}), ok), "trie of 0 bytes in 8"},
	} {
		m, err := Parse(c.data)
		var e *Error
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.As(err, &e) {
			t.Errorf("%s: model %v, error %v; want an Error saying %q", c.name, m != nil, err, c.want)
		}
	}
}

// TestNormalizerSpec: the normalizer_spec's flags are read (an unknown field among them
// changes none), and each does what SentencePiece's does: the dummy prefix, runs of spaces
// collapsed and the ends trimmed, spaces written as "▁"; a character map's empty replacement
// deletes the character, and a trie or value pointing past the map's end maps nothing.
func TestNormalizerSpec(t *testing.T) {
	const text = "  a  b "
	for _, c := range []struct {
		name     string
		spec     []byte
		in, want string
	}{
		{"defaults", nil, text, "▁a▁b"},
		{"all on, with rules and an unknown field", pb(nil).bytes(1, []byte("nmt_nfkc")).varint(3, 1).varint(4, 1).varint(5, 1).bytes(6, []byte("rules")).varint(20, 0), text, "▁a▁b"},
		{"a trie and no replacements", pb(nil).bytes(2, []byte{8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), text, "▁a▁b"},
		{"'a' deleted", pb(nil).bytes(2, charsmap([]uint32{aRoot, aUnit, 0}, "\x00")), "a b", "▁b"},
		{"'a' mapped past the replacements", pb(nil).bytes(2, charsmap([]uint32{aRoot, aUnit, 1}, "\x00")), "a b", "▁a▁b"},
		{"'a' and 'b' led past the trie", pb(nil).bytes(2, charsmap([]uint32{aRoot, aUnit}, "")), "a b", "▁a▁b"},
		{"no dummy prefix", pb(nil).varint(3, 0), text, "a▁b"},
		{"extra spaces kept", pb(nil).varint(4, 0), text, "▁▁▁a▁▁b▁"},
		{"spaces not escaped", pb(nil).varint(5, 0), text, " a b"},
	} {
		m, err := Parse(tinyModel(c.spec, pieceMsg("a", -1, typeNormal)))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := m.norm.normalize(c.in); got != c.want {
			t.Errorf("%s: %q normalised to %q, want %q", c.name, c.in, got, c.want)
		}
	}
}

// A darts-clone trie holding one key, "a": the root's children are at 0x60 (0x60^'a' = 1),
// unit 1 is "a" with a leaf, its children at 1^3 = 2, where the leaf's value is. Without the
// third unit, "a"'s leaf (and "b", 0x60^'b' = 2) points past the trie.
const (
	aRoot = 0x60 << 10
	aUnit = 'a' | 1<<8 | 3<<10
)

// charsmap is a precompiled_charsmap: the trie's size in bytes, its units, the replacements.
func charsmap(units []uint32, replacements string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(4*len(units)))
	for _, u := range units {
		b = binary.LittleEndian.AppendUint32(b, u)
	}
	return append(b, replacements...)
}

// TestLattice: an unknown character is a path of its own even where a longer piece starts
// (here "xy", which would leave "z" unknown, loses to "<unk>" then "yz"); consecutive unknown
// characters, the first ones included, become one "<unk>"; a piece's score, an unknown
// field after it, and Piece's bounds.
func TestLattice(t *testing.T) {
	m, err := Parse(tinyModel(nil, pieceMsg("xy", -5, typeNormal), pieceMsg("yz", -1, typeNormal), pieceMsg("▁", -1, typeNormal)))
	if err != nil {
		t.Fatal(err)
	}
	pieces := func(text string) []string {
		var out []string
		for _, tok := range m.Encode(text) {
			out = append(out, tok.Piece)
		}
		return out
	}
	for text, want := range map[string][]string{"xy": {"▁", "xy"}, "xyz": {"▁", "<unk>", "yz"}, "qqyz": {"▁", "<unk>", "yz"}, "qq": {"▁", "<unk>"}} {
		if got := pieces(text); !slices.Equal(got, want) {
			t.Errorf("%q: %q, want %q", text, got, want)
		}
	}
	// A byte that is not UTF-8 is U+FFFD, as SentencePiece reads it.
	if got := m.norm.normalize("a\xffb"); got != "▁a\ufffdb" {
		t.Errorf("invalid UTF-8 normalised to %q", got)
	}
	// Without a "▁" piece the text's first characters are unknown too: one "<unk>" still.
	bare, err := Parse(tinyModel(nil, pieceMsg("xy", -5, typeNormal)))
	if err != nil {
		t.Fatal(err)
	}
	if got := bare.Encode("qq"); len(got) != 1 || got[0].ID != bare.UnknownID() {
		t.Errorf("%q without \"▁\": %v, want one <unk>", "qq", got)
	}
	if m.pieces[2].score != -1 || m.Piece(1) != "xy" || m.Piece(-1) != "" || m.Piece(m.Size()) != "" || m.Piece(0) != "<unk>" {
		t.Errorf("pieces %+v", m.pieces)
	}
}

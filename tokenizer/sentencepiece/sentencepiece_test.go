package sentencepiece

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/imagesemantics/blipgo/internal/golden"
)

type marianCases struct {
	Encode []struct {
		Text   string
		IDs    []int
		Pieces []string
	}
}

// marianVocab is marian-tiny's vocab.json: piece -> id.
func marianVocab(t testing.TB) map[string]int {
	data, err := os.ReadFile(golden.Path("marian", "marian-tiny", "vocab.json"))
	if err != nil {
		t.Fatal(err)
	}
	v := map[string]int{}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func loadModel(t testing.TB, name string) *Model {
	data, err := os.ReadFile(golden.Path("marian", "marian-tiny", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEncodeGolden: every golden text segments into SentencePiece's pieces, which the
// vocabulary maps to transformers' ids (</s> appended, as MarianTokenizer does).
func TestEncodeGolden(t *testing.T) {
	data, err := os.ReadFile(golden.Path("marian", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases marianCases
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	m := loadModel(t, "source.spm")
	vocab := marianVocab(t)
	for _, c := range cases.Encode {
		var pieces []string
		var ids []int
		for _, tok := range m.Encode(c.Text) {
			pieces = append(pieces, tok.Piece)
			id, ok := vocab[tok.Piece]
			if !ok {
				id = vocab["<unk>"]
			}
			ids = append(ids, id)
		}
		pieces, ids = append(pieces, "</s>"), append(ids, vocab["</s>"])
		if !slices.Equal(ids, c.IDs) || !slices.Equal(pieces, c.Pieces) {
			t.Errorf("%q:\n got %v %q\nwant %v %q", c.Text, ids, pieces, c.IDs, c.Pieces)
		}
	}
}

// TestDecode: pieces back to text as SentencePiece joins them.
func TestDecode(t *testing.T) {
	if got := Decode([]string{"▁a", "▁c", "ou", "ch", "▁", "4", "2"}); got != "a couch 42" {
		t.Errorf("Decode = %q", got)
	}
}

// FuzzEncode: any text segments into pieces that cover its normalised form, ends, and never
// panics.
func FuzzEncode(f *testing.F) {
	m := loadModel(f, "source.spm")
	for _, s := range []string{"a cat", "  spaces \t", "Ünïcödé 漢字 🙂", "\xff\xfe", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		toks := m.Encode(text)
		var joined string
		unk := false
		for _, tok := range toks {
			if tok.ID < 0 || tok.ID >= m.Size() {
				t.Fatalf("id %d", tok.ID)
			}
			if tok.ID == m.UnknownID() {
				unk = true
				continue
			}
			joined += tok.Piece
		}
		if norm := m.norm.normalize(text); !unk && joined != norm {
			t.Fatalf("%q: pieces %q, normalised %q", text, joined, norm)
		}
	})
}

// FuzzParse: any bytes are a model or an error, never a panic.
func FuzzParse(f *testing.F) {
	data, err := os.ReadFile(golden.Path("marian", "marian-tiny", "target.spm"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data[:4096])
	f.Add(data)
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := Parse(b); err == nil {
			m.Encode("a cat sitting on a couch")
		}
	})
}

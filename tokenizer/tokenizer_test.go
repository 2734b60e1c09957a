package tokenizer

import (
	"reflect"
	"strings"
	"testing"

	"github.com/imagesemantics/blipgo/internal/golden"
)

// vocabDirs maps the vocabularies named in cases.json to the checkpoints that carry them.
var vocabDirs = map[string]string{
	"bert-base-uncased+blip": "models/blip-tiny-a",
	"small-2996+blip":        "models/blip-tiny-b",
}

// loaders builds every tokenizer twice: from tokenizer.json and from vocab.txt, which must
// agree on every case.
func loaders(t *testing.T, vocab string) map[string]*Tokenizer {
	t.Helper()
	dir := golden.Path(vocabDirs[vocab])
	fromJSON, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	vocabTxt := mustRead(t, dir+"/vocab.txt")
	cfg := mustRead(t, dir+"/tokenizer_config.json")
	fromVocab, err := FromVocab(vocabTxt, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*Tokenizer{"tokenizer.json": fromJSON, "vocab.txt": fromVocab}
}

func TestEncodeGolden(t *testing.T) {
	cases, err := golden.Load()
	if err != nil {
		t.Fatal(err)
	}
	toks := map[string]map[string]*Tokenizer{}
	for _, c := range cases.Tokenizer.Encode {
		if toks[c.Vocab] == nil {
			toks[c.Vocab] = loaders(t, c.Vocab)
		}
		for src, tk := range toks[c.Vocab] {
			got := tk.Encode(c.Text)
			if !reflect.DeepEqual(got, c.IDs) {
				t.Errorf("%s (%s) Encode(%q) = %v, want %v %q", c.Vocab, src, c.Text, got, c.IDs, c.Tokens)
			}
		}
	}
}

func TestDecodeGolden(t *testing.T) {
	cases, err := golden.Load()
	if err != nil {
		t.Fatal(err)
	}
	toks := map[string]map[string]*Tokenizer{}
	for _, c := range cases.Tokenizer.Decode {
		if toks[c.Vocab] == nil {
			toks[c.Vocab] = loaders(t, c.Vocab)
		}
		for src, tk := range toks[c.Vocab] {
			if got := tk.Decode(c.IDs, c.SkipSpecialTokens, c.CleanUp); got != c.Text {
				t.Errorf("%s (%s) Decode(%v, skip=%v, clean=%v) = %q, want %q", c.Vocab, src, c.IDs, c.SkipSpecialTokens, c.CleanUp, got, c.Text)
			}
		}
	}
}

// TestDecodeGenerated checks decoding of every generated caption in cases.json.
func TestDecodeGenerated(t *testing.T) {
	cases, err := golden.Load()
	if err != nil {
		t.Fatal(err)
	}
	byModel := map[string]*Tokenizer{}
	for _, g := range cases.Generate {
		tk := byModel[g.Model]
		if tk == nil {
			if tk, err = Load(golden.Path("models", g.Model)); err != nil {
				t.Fatal(err)
			}
			byModel[g.Model] = tk
		}
		if got := tk.Decode(g.IDs, true, true); got != g.Text {
			t.Errorf("%s %s %s: Decode = %q, want %q", g.Model, g.Image, g.Name, got, g.Text)
		}
	}
}

// FuzzEncode: any text encodes without panicking into [CLS] ... [SEP] with known ids, and
// decoding gives text without special tokens.
func FuzzEncode(f *testing.F) {
	tk, err := Load(golden.Path("models", "blip-tiny-b"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"a photography of", "naïve café", "hello[SEP]world[DEC]", "中文 🙂", "\x00\xff\u200b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ids := tk.Encode(text)
		if len(ids) < 2 || ids[0] != tk.CLS || ids[len(ids)-1] != tk.SEP {
			t.Fatalf("Encode(%q) = %v", text, ids)
		}
		for _, id := range ids {
			if tk.Token(id) == "" {
				t.Fatalf("Encode(%q) gave unknown id %d", text, id)
			}
		}
		if s := tk.Decode(ids, true, true); strings.Contains(s, "[CLS]") || strings.Contains(s, "[SEP]") {
			t.Fatalf("Decode kept special tokens: %q", s)
		}
	})
}

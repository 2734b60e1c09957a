package tokenizer

import (
	"reflect"
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

package tokenizer

import (
	"fmt"
	"os"
	"reflect"
	"runtime"
	"slices"
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

// TestBertEdges: the corners of BERT's normalizer, pre-tokenizer and WordPiece that the golden
// cases do not reach, each as the Rust tokenizers define it (BertNormalizer, BertPreTokenizer,
// WordPiece, the added vocabulary's leftmost-longest match), on bert-base-uncased's vocabulary
// from both of its files: a word of max_input_chars_per_word (100) characters is split, one
// longer is [UNK]; the limit counts characters, not bytes; U+FFFD and unassigned code points
// are dropped like control characters; ASCII symbols such as '~' are punctuation; CJK
// compatibility ideographs (U+F900) count as Chinese characters (padded with spaces before
// NFD maps them to unified ones); and decoding skips ids without a token.
func TestBertEdges(t *testing.T) {
	const cls, sep, unk, a, b, tilde, ab = 101, 102, 100, 1037, 1038, 1066, 11113
	for src, tk := range loaders(t, "bert-base-uncased+blip") {
		// Words within the limit split into pieces ("aa", "##aa", ...) that decode back to them.
		for _, w := range []string{strings.Repeat("a", 100), strings.Repeat("д", 60)} {
			ids := tk.Encode(w)
			if slices.Contains(ids, unk) || tk.Decode(ids, true, true) != w {
				t.Errorf("%d-character word of %d bytes (%s): Encode = %v, decoded %q", len([]rune(w)), len(w), src, ids, tk.Decode(ids, true, true))
			}
		}
		for _, c := range []struct {
			name, text string
			want       []int
		}{
			{"a word of 101 characters", strings.Repeat("a", 101), []int{cls, unk, sep}},
			{"replacement character dropped", "a\ufffdb", []int{cls, ab, sep}},
			{"unassigned code point dropped", "a\u0378b", []int{cls, ab, sep}},
			{"tilde is punctuation", "a~b", []int{cls, a, tilde, b, sep}},
			{"compatibility ideograph padded", "a\uf900b", []int{cls, a, unk, b, sep}},
		} {
			if got := tk.Encode(c.text); !slices.Equal(got, c.want) {
				t.Errorf("%s (%s): Encode = %v, want %v", c.name, src, got, c.want)
			}
		}
		if got := tk.Decode([]int{a, 1 << 20, b}, true, true); got != "a b" {
			t.Errorf("%s: an id without a token decoded to %q, want it skipped (\"a b\")", src, got)
		}
	}
	// Added tokens starting at the same place (inside the text or at its start): the longest
	// is taken, whichever is listed first.
	tk, err := FromJSON([]byte(`{"normalizer": {"type": "BertNormalizer", "clean_text": true, "lowercase": true},
		"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "[PAD]": 3, "[MASK]": 4, "<a>": 5, "<a>b": 6, "b": 7, "[DEC]": 8}},
		"added_tokens": [{"id": 5, "content": "<a>", "special": true}, {"id": 6, "content": "<a>b", "special": true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string][]int{"b<a>b": {1, 7, 6, 2}, "<a>bb": {1, 6, 7, 2}} {
		if got := tk.Encode(text); !slices.Equal(got, want) {
			t.Errorf("overlapping added tokens: Encode(%q) = %v, want %v", text, got, want)
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

// TestHostileTokenizerFiles: an empty special token is refused (it made Encode loop forever),
// and ids far past the vocabulary are refused before a table of their size is built.
func TestHostileTokenizerFiles(t *testing.T) {
	base := `{"normalizer": {"type": "BertNormalizer", "clean_text": true, "lowercase": true},
		"model": {"type": "WordPiece", "unk_token": "[UNK]", "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "[PAD]": 3, "[MASK]": 4, "[DEC]": 5, "a": 6}},
		"added_tokens": [%s]}`
	for _, c := range []struct {
		name, added, want string
	}{
		{"empty special token", `{"id": 7, "content": "", "special": true}`, "added token 7 is empty"},
		{"huge id", `{"id": 16777216, "content": "[X]", "special": true}`, "outside [0, 8)"},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := FromJSON([]byte(fmt.Sprintf(base, c.added)))
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("%s: %d bytes allocated", c.name, alloc)
		}
	}
	tk, err := FromJSON([]byte(fmt.Sprintf(base, `{"id": 5, "content": "[DEC]", "special": true}, {"id": 5, "content": "[DEC]", "special": true}`)))
	if err != nil {
		t.Fatal(err)
	}
	if ids := tk.Encode("a [DEC] a"); !slices.Equal(ids, []int{1, 6, 5, 6, 2}) {
		t.Errorf("duplicate special token: %v", ids)
	}
}

// FuzzTokenizerFiles: any tokenizer.json or vocab.txt either is refused or gives a tokenizer
// whose Encode ends, framed by [CLS] and [SEP].
func FuzzTokenizerFiles(f *testing.F) {
	for _, name := range []string{"tokenizer.json", "vocab.txt"} {
		b, err := os.ReadFile(golden.Path("models", "blip-tiny-b", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, name == "tokenizer.json")
	}
	f.Fuzz(func(t *testing.T, data []byte, isJSON bool) {
		var tk *Tokenizer
		var err error
		if isJSON {
			tk, err = FromJSON(data)
		} else {
			tk, err = FromVocab(data, nil)
		}
		if err != nil {
			return
		}
		ids := tk.Encode("a photography of [DEC] naïve café")
		if len(ids) < 2 || ids[0] != tk.CLS || ids[len(ids)-1] != tk.SEP {
			t.Fatalf("Encode gave %v", ids)
		}
	})
}

package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imagesemantics/blipgo/internal/golden"
)

// TestLoadVocabDir: Load of a folder without tokenizer.json reads vocab.txt and, when present,
// tokenizer_config.json (absent, BERT's defaults: the same ids here); a folder with neither
// file, an unreadable tokenizer.json or tokenizer_config.json (a folder of that name), an
// empty unk_token and a line of vocab.txt past the scanner's 1 MiB are refused with the file
// named. (A special token the vocabulary lacks is appended to it, as transformers adds it.)
func TestLoadVocabDir(t *testing.T) {
	src := golden.Path("models", "blip-tiny-a")
	want, err := Load(src)
	if err != nil {
		t.Fatal(err)
	}
	text := "a picture of [DEC] a cat"
	put := func(dir, name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vocab := mustRead(t, filepath.Join(src, "vocab.txt"))
	for _, withConfig := range []bool{true, false} {
		dir := t.TempDir()
		put(dir, "vocab.txt", vocab)
		if withConfig {
			put(dir, "tokenizer_config.json", mustRead(t, filepath.Join(src, "tokenizer_config.json")))
		}
		tk, err := Load(dir)
		if err != nil {
			t.Fatalf("vocab.txt (config %v): %v", withConfig, err)
		}
		if got, w := tk.Encode(text), want.Encode(text); !slices.Equal(got, w) {
			t.Errorf("vocab.txt (config %v): %v, tokenizer.json gives %v", withConfig, got, w)
		}
	}
	for _, c := range []struct {
		name  string
		setup func(dir string)
		want  []string
	}{
		{"no file", func(string) {}, []string{"neither tokenizer.json nor vocab.txt"}},
		{"config unreadable", func(dir string) {
			put(dir, "vocab.txt", vocab)
			if err := os.Mkdir(filepath.Join(dir, "tokenizer_config.json"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, []string{"tokenizer_config.json"}},
		{"empty unk_token", func(dir string) {
			put(dir, "vocab.txt", vocab)
			put(dir, "tokenizer_config.json", []byte(`{"unk_token": ""}`))
		}, []string{"vocab.txt", `special token "" is not in the vocabulary`}},
		{"a line of vocab.txt over 1 MiB", func(dir string) {
			put(dir, "vocab.txt", append(append(vocab, strings.Repeat("x", 1<<20+1)...), '\n'))
		}, []string{"vocab.txt", "too long"}},
		{"tokenizer.json unreadable", func(dir string) {
			if err := os.Mkdir(filepath.Join(dir, "tokenizer.json"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, []string{"tokenizer.json"}},
	} {
		dir := t.TempDir()
		c.setup(dir)
		_, err := Load(dir)
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want %q in it", c.name, err, w)
			}
		}
	}
}

// TestTokenizerJSONChecks: only a WordPiece model with a BertNormalizer that cleans text is
// accepted; an id equal to the number of entries is refused; unk_token defaults to [UNK] and
// is otherwise the one named; a vocabulary id 0 is a token like any other; Token outside the
// ids is "".
func TestTokenizerJSONChecks(t *testing.T) {
	build := func(normalizer, model string) (*Tokenizer, error) {
		return FromJSON([]byte(`{"normalizer": ` + normalizer + `, "model": ` + model + `}`))
	}
	bert := `{"type": "BertNormalizer", "clean_text": true, "lowercase": true}`
	vocab := `"vocab": {"a": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[PAD]": 4, "[MASK]": 5, "[DEC]": 6}`
	wordPiece := `{"type": "WordPiece", "unk_token": "[UNK]", ` + vocab + `}`
	for _, c := range []struct{ name, normalizer, model, want string }{
		{"BPE with ##", bert, `{"type": "BPE", "continuing_subword_prefix": "##", ` + vocab + `}`, "only WordPiece"},
		{"another prefix", bert, `{"type": "WordPiece", "continuing_subword_prefix": "@@", ` + vocab + `}`, "only WordPiece"},
		{"no normalizer", `null`, wordPiece, "BertNormalizer"},
		{"another normalizer", `{"type": "Sequence", "clean_text": true}`, wordPiece, "BertNormalizer"},
		{"no clean_text", `{"type": "BertNormalizer", "clean_text": false}`, wordPiece, "BertNormalizer"},
		{"id of the entries' count", bert, `{"type": "WordPiece", "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "[PAD]": 3, "[MASK]": 4, "[DEC]": 5, "b": 7}}`, "outside [0, 7)"},
		{"unk_token not in the vocabulary", bert, `{"type": "WordPiece", "unk_token": "<unk>", ` + vocab + `}`, `"<unk>"`},
	} {
		if _, err := build(c.normalizer, c.model); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q in it", c.name, err, c.want)
		}
	}
	tk, err := build(bert, `{"type": "WordPiece", "unk_token": "<unk>", "vocab": {"a": 0, "<unk>": 1, "[CLS]": 2, "[SEP]": 3, "[PAD]": 4, "[MASK]": 5, "[DEC]": 6}}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := tk.Encode("a b"); !slices.Equal(got, []int{2, 0, 1, 3}) {
		t.Errorf("unk_token <unk>, token a at id 0: Encode(\"a b\") = %v, want [2 0 1 3]", got)
	}
	tk, err = build(bert, `{"type": "WordPiece", `+vocab+`}`)
	if err != nil {
		t.Fatal(err)
	}
	if tk.UNK != 1 {
		t.Errorf("no unk_token: UNK = %d, want [UNK]'s 1", tk.UNK)
	}
	for _, id := range []int{-1, tk.VocabSize(), 1 << 30} {
		if s := tk.Token(id); s != "" {
			t.Errorf("Token(%d) = %q, want \"\"", id, s)
		}
	}
}

// TestCharacterClasses pins BERT's punctuation (every ASCII symbol, Unicode P beyond) and
// Chinese character ranges (_is_chinese_char) at both ends of each range and just outside.
func TestCharacterClasses(t *testing.T) {
	for r := rune(0); r < 128; r++ {
		want := strings.ContainsRune("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", r)
		if got := isPunctuation(r); got != want {
			t.Errorf("isPunctuation(%q) = %v, want %v", r, got, want)
		}
	}
	if !isPunctuation('¿') || isPunctuation('é') {
		t.Errorf("isPunctuation beyond ASCII: ¿ %v, é %v", isPunctuation('¿'), isPunctuation('é'))
	}
	ranges := [][2]rune{{0x4E00, 0x9FFF}, {0x3400, 0x4DBF}, {0x20000, 0x2A6DF}, {0x2A700, 0x2B73F},
		{0x2B740, 0x2B81F}, {0x2B820, 0x2CEAF}, {0xF900, 0xFAFF}, {0x2F800, 0x2FA1F}}
	in := func(r rune) bool {
		for _, g := range ranges {
			if r >= g[0] && r <= g[1] {
				return true
			}
		}
		return false
	}
	for _, g := range ranges {
		for _, r := range []rune{g[0] - 1, g[0], g[0] + 1, g[1] - 1, g[1], g[1] + 1} {
			if got, want := isChinese(r), in(r); got != want {
				t.Errorf("isChinese(U+%04X) = %v, want %v", r, got, want)
			}
		}
	}
}

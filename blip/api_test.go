package blip

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imagesemantics/blipgo/imageproc"
)

// TestCheckOptions: options are checked against the model as a call would check them: the
// ranges, the prompt's tokens (BOS included) with the new ones against the position table,
// and a closed model refused.
func TestCheckOptions(t *testing.T) {
	m := loadModel(t, "blip-tiny-a")
	const prompt = "a picture of"
	n := len(m.PromptIDs(prompt))
	positions := m.Config.TextConfig.MaxPositionEmbeddings
	if err := m.CheckOptions(Prompt(prompt), MaxNewTokens(positions-n)); err != nil {
		t.Errorf("%d prompt tokens and %d new in %d positions: %v", n, positions-n, positions, err)
	}
	for _, c := range []struct {
		opts []Option
		want string
	}{
		{[]Option{Prompt(prompt), MaxNewTokens(positions - n + 1)}, "exceeds the model's"},
		{[]Option{Prompt(prompt), MaxLength(n)}, "the prompt makes"},
		{[]Option{MaxNewTokens(-1)}, "max new tokens -1"},
	} {
		if err := m.CheckOptions(c.opts...); !errors.Is(err, ErrOption) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%d options: error %v, want ErrOption saying %q", len(c.opts), err, c.want)
		}
	}
	m.Close()
	if err := m.CheckOptions(); !errors.Is(err, ErrClosed) {
		t.Errorf("closed model: %v", err)
	}
}

// TestMaxPixels: the bound DecodeImage applies is imageproc's default unless Load is given
// a positive one.
func TestMaxPixels(t *testing.T) {
	if got := loadModel(t, "blip-tiny-a").MaxPixels(); got != imageproc.DefaultMaxPixels {
		t.Errorf("default: %d, want %d", got, imageproc.DefaultMaxPixels)
	}
	for _, c := range []struct{ set, want int }{{0, imageproc.DefaultMaxPixels}, {-1, imageproc.DefaultMaxPixels}, {1, 1}, {5000, 5000}} {
		if got := loadModel(t, "blip-tiny-a", MaxPixels(c.set)).MaxPixels(); got != c.want {
			t.Errorf("MaxPixels(%d): %d, want %d", c.set, got, c.want)
		}
	}
}

// TestTokenizerNote: a snapshot with neither tokenizer.json nor tokenizer_config.json loads
// from vocab.txt with BERT's defaults and says so in its notes; with either file it does not.
func TestTokenizerNote(t *testing.T) {
	const note = "no tokenizer.json or tokenizer_config.json"
	for _, c := range []struct {
		remove []string
		noted  bool
	}{
		{nil, false},
		{[]string{"tokenizer.json"}, false},
		{[]string{"tokenizer_config.json"}, false},
		{[]string{"tokenizer.json", "tokenizer_config.json"}, true},
	} {
		dir := snapshotCopy(t, "blip-tiny-a")
		for _, f := range c.remove {
			if err := os.Remove(filepath.Join(dir, f)); err != nil {
				t.Fatal(err)
			}
		}
		m, err := Load(dir)
		if err != nil {
			t.Fatalf("without %v: %v", c.remove, err)
		}
		noted := slices.ContainsFunc(m.Notes(), func(s string) bool { return strings.Contains(s, note) })
		m.Close()
		if noted != c.noted {
			t.Errorf("without %v: notes %q; want the tokenizer note %v", c.remove, m.Notes(), c.noted)
		}
	}
}

// TestTextLength: a text of as many tokens as the position table holds ([CLS] and [SEP]
// included) is encoded; one more token is refused, naming the counts.
func TestTextLength(t *testing.T) {
	m := loadModel(t, "blip-tiny-itm")
	max := m.Config.TextConfig.MaxPositionEmbeddings
	word := "" // a word of one token in this vocabulary
	for _, w := range []string{"a", "the", "cat", "x"} {
		if len(m.Tokenizer.Encode(w)) == 3 {
			word = w
			break
		}
	}
	if word == "" {
		t.Fatal("no word of one token")
	}
	text := func(words int) string { return strings.TrimSpace(strings.Repeat(word+" ", words)) }
	if n := len(m.Tokenizer.Encode(text(max - 2))); n != max {
		t.Fatalf("%d words make %d tokens, want %d", max-2, n, max)
	}
	if _, err := m.TextEmbedding(context.Background(), text(max-2)); err != nil {
		t.Errorf("%d tokens: %v", max, err)
	}
	_, err := m.TextEmbedding(context.Background(), text(max-1))
	if want := fmt.Sprintf("is %d tokens, the model takes at most %d", max+1, max); !errors.Is(err, ErrOption) || !strings.Contains(err.Error(), want) {
		t.Errorf("%d tokens: error %v, want ErrOption saying %q", max+1, err, want)
	}
}

package translate

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imagesemantics/blipgo/blip/hub"
	"github.com/imagesemantics/blipgo/internal/golden"
	"github.com/imagesemantics/blipgo/tensor"
)

type cases struct {
	Encode []struct {
		Text string
		IDs  []int
	}
	TeacherForced []struct {
		Text            string
		DecoderInputIDs []int `json:"decoder_input_ids"`
		Logits          [][]float64
	} `json:"teacher_forced"`
	EncoderOut []struct {
		Text   string
		First4 [][]float64
		Sum    float64
	} `json:"encoder_out"`
	Generate []struct {
		Text        string
		Name        string
		Options     map[string]int
		InputIDs    []int `json:"input_ids"`
		IDs         []int
		Translation string
	}
}

func load(t testing.TB) (*Model, *cases) {
	m, err := Load(golden.Path("marian", "marian-tiny"), 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	data, err := os.ReadFile(golden.Path("marian", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c cases
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return m, &c
}

// Tolerances against transformers' float32 outputs (the same products summed in another
// order): measured 2.1e-6 on the logits, 9.5e-7 on the encoder output, 1e-6 on its sum.
const (
	logitsTol  = 1e-5
	encoderTol = 1e-5
	sumTol     = 1e-4
)

func TestEncodeGolden(t *testing.T) {
	m, c := load(t)
	for _, e := range c.Encode {
		if got := m.Encode(e.Text); !slices.Equal(got, e.IDs) {
			t.Errorf("%q: %v, want %v", e.Text, got, e.IDs)
		}
	}
}

func TestTeacherForcedGolden(t *testing.T) {
	m, c := load(t)
	for _, tf := range c.TeacherForced {
		logits, err := m.TeacherForced(context.Background(), m.Encode(tf.Text), tf.DecoderInputIDs)
		if err != nil {
			t.Fatal(err)
		}
		var worst float64
		for i, row := range tf.Logits {
			for j, v := range row {
				worst = max(worst, math.Abs(float64(logits.Row(i)[j])-v))
			}
		}
		t.Logf("%q: max |diff| %.3g", tf.Text, worst)
		if worst > logitsTol {
			t.Errorf("%q: logits differ by %.3g > %.3g", tf.Text, worst, logitsTol)
		}
	}
}

func TestEncoderOutputGolden(t *testing.T) {
	m, c := load(t)
	for _, e := range c.EncoderOut {
		out, err := m.EncoderOutput(context.Background(), m.Encode(e.Text))
		if err != nil {
			t.Fatal(err)
		}
		var worst, sum float64
		for i, row := range e.First4 {
			for j, v := range row {
				worst = max(worst, math.Abs(float64(out.Row(i)[j])-v))
			}
		}
		for _, v := range out.Data {
			sum += float64(v)
		}
		t.Logf("%q: first rows max |diff| %.3g, sum %v (reference %v)", e.Text, worst, sum, e.Sum)
		if worst > encoderTol || math.Abs(sum-e.Sum) > sumTol {
			t.Errorf("%q: encoder output differs (max %.3g, sum %v vs %v)", e.Text, worst, sum, e.Sum)
		}
	}
}

func TestGenerateGolden(t *testing.T) {
	m, c := load(t)
	for _, g := range c.Generate {
		t.Run(g.Name+"/"+g.Text, func(t *testing.T) {
			input := m.Encode(g.Text)
			if !slices.Equal(input, g.InputIDs) {
				t.Fatalf("input %v, want %v", input, g.InputIDs)
			}
			ids, err := m.Generate(context.Background(), input, Options{NumBeams: g.Options["num_beams"], MaxNewTokens: g.Options["max_new_tokens"]})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids, g.IDs) {
				t.Fatalf("ids\n got %v\nwant %v", ids, g.IDs)
			}
			if text := m.Decode(ids); text != g.Translation {
				t.Errorf("translation %q, want %q", text, g.Translation)
			}
		})
	}
}

// TestLongText: a text longer than the positions is cut to them, not refused.
func TestLongText(t *testing.T) {
	m, _ := load(t)
	long := strings.Repeat("a cat sitting on a couch ", 40)
	out, err := m.Translate(context.Background(), []string{long}, Options{NumBeams: 1, MaxNewTokens: 3})
	if err != nil || len(out[0].IDs) != 4 {
		t.Errorf("%v, %v", out, err)
	}
	if _, err := m.Generate(context.Background(), m.Encode(long), Options{NumBeams: 1}); err == nil {
		t.Error("Generate took more ids than positions")
	}
}

// TestTranslateBatchGolden: the greedy golden texts translated in one call (decoded together,
// each at its own length) give each text's reference ids, as one call per text does.
func TestTranslateBatchGolden(t *testing.T) {
	m, c := load(t)
	var texts []string
	var want [][]int
	newTokens := -1
	for _, g := range c.Generate {
		if g.Options["num_beams"] != 1 {
			continue
		}
		if newTokens < 0 {
			newTokens = g.Options["max_new_tokens"]
		}
		if g.Options["max_new_tokens"] == newTokens {
			texts = append(texts, g.Text)
			want = append(want, g.IDs)
		}
	}
	t.Logf("%d texts, %d new tokens", len(texts), newTokens)
	if len(texts) < 2 {
		t.Fatalf("%d greedy golden cases with one length; the batch test needs two", len(texts))
	}
	out, err := m.Translate(context.Background(), texts, Options{NumBeams: 1, MaxNewTokens: newTokens})
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		if !slices.Equal(out[i].IDs, want[i]) {
			t.Errorf("%q: ids\n got %v\nwant %v", texts[i], out[i].IDs, want[i])
		}
	}
}

// withGenerationConfig copies marian-tiny to a temporary folder with generation_config.json
// replaced by cfg.
func withGenerationConfig(t *testing.T, cfg string) string {
	return withFile(t, "generation_config.json", cfg)
}

// withFile copies marian-tiny to a temporary folder with the file name replaced by content.
func withFile(t *testing.T, name, content string) string {
	src := golden.Path("marian", "marian-tiny")
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == name {
			continue
		}
		if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// withJSON is withFile with marian-tiny's JSON file name, its keys changed as changes says.
func withJSON(t *testing.T, name string, changes map[string]any) string {
	data, err := os.ReadFile(golden.Path("marian", "marian-tiny", name))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range changes {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return withFile(t, name, string(b))
}

// TestLoadChecks: Load refuses another architecture and a vocabulary id outside the model's
// vocabulary, naming the file, and accepts what sits on the bounds; Decode skips ids outside
// the vocabulary.
func TestLoadChecks(t *testing.T) {
	for _, c := range []struct {
		file    string
		changes map[string]any
		want    string // "" accepted
	}{
		{"config.json", map[string]any{"architectures": []string{}}, ""},
		{"config.json", map[string]any{"architectures": []string{"BartForConditionalGeneration"}}, "only MarianMTModel is supported"},
		{"vocab.json", map[string]any{"▁extra": 157}, `vocab.json: "▁extra" has id 157 outside the vocabulary of 157`},
		{"vocab.json", map[string]any{"▁extra": -1}, `vocab.json: "▁extra" has id -1 outside`},
		{"generation_config.json", map[string]any{"decoder_start_token_id": 157}, "decoder start token 157 outside"},
		{"generation_config.json", map[string]any{"decoder_start_token_id": -1}, "decoder start token -1 outside"},
		{"generation_config.json", map[string]any{"decoder_start_token_id": 0}, ""},
		{"generation_config.json", map[string]any{"max_length": 65}, "max length 65 exceeds the model's 64 positions"},
		{"generation_config.json", map[string]any{"max_length": 64}, ""},
	} {
		m, err := Load(withJSON(t, c.file, c.changes), 1)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s %v: %v", c.file, c.changes, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s %v: %v, want %q", c.file, c.changes, err, c.want)
		}
		if m != nil {
			m.Close()
		}
	}
	m, _ := load(t)
	if got := m.Decode([]int{-1, 157, 1 << 30}); got != "" {
		t.Errorf("ids outside the vocabulary decoded to %q", got)
	}
}

// TestGenerationConfigKeys: keys transformers honours are honoured (no_repeat_ngram_size
// stops the greedy references' repeated pairs), and values no search can honour fail Load
// naming the file.
func TestGenerationConfigKeys(t *testing.T) {
	_, c := load(t)
	m, err := Load(withGenerationConfig(t, `{"decoder_start_token_id": 156, "eos_token_id": 0, "forced_eos_token_id": 0, "bad_words_ids": [[156]], "max_length": 40, "num_beams": 1, "no_repeat_ngram_size": 2}`), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	repeats := func(ids []int) bool {
		seen := map[[2]int]bool{}
		for i := 1; i < len(ids); i++ {
			p := [2]int{ids[i-1], ids[i]}
			if seen[p] {
				return true
			}
			seen[p] = true
		}
		return false
	}
	checked := 0
	for _, g := range c.Generate {
		if g.Options["num_beams"] != 1 || !repeats(g.IDs) {
			continue
		}
		checked++
		ids, err := m.Generate(context.Background(), g.InputIDs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if repeats(ids) {
			t.Errorf("%q with no_repeat_ngram_size 2 repeats a pair: %v", g.Text, ids)
		}
	}
	if checked == 0 {
		t.Fatal("no greedy reference repeats a pair; the test checks nothing")
	}
	for cfg, want := range map[string]string{
		`{"num_beams": 0}`:                  "beams 0 < 1",
		`{"num_beams": 1000}`:               "beams 1000 > 64",
		`{"repetition_penalty": -1}`:        "repetition penalty -1",
		`{"do_sample": true}`:               "do_sample",
		`{"max_length": 100000}`:            "exceeds the model's",
		`{"no_repeat_ngram_size": -1}`:      "n-gram size -1",
		`{"bad_words_ids": [[3, 4]]}`:       "only single tokens",
		`{"bad_words_ids": [[1000]]}`:       "bad word token 1000 outside",
		`{"eos_token_id": 999}`:             "end token 999 outside",
		`{"forced_eos_token_id": 999}`:      "forced end token 999 outside",
		`{"decoder_start_token_id": 99999}`: "decoder start token 99999 outside",
	} {
		_, err := Load(withGenerationConfig(t, cfg), 1)
		if err == nil || !strings.Contains(err.Error(), "generation_config.json") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming generation_config.json and %q", cfg, err, want)
		}
	}
}

// TestLoadAnyOffline loads a MarianMT model by hub id from a cache laid out like the Python
// client's, the network off, and translates with it; an id not in the cache is refused, naming
// both readings of the name.
func TestLoadAnyOffline(t *testing.T) {
	cache := t.TempDir()
	if err := golden.MakeHubCache(cache, "Helsinki-NLP/opus-mt-tiny", "marian/marian-tiny"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HF_HUB_CACHE", cache)
	t.Setenv("HF_HUB_OFFLINE", "1")
	m, err := LoadAny(context.Background(), "Helsinki-NLP/opus-mt-tiny", 1, hub.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, c := load(t)
	g := c.Generate[0]
	ids, err := m.Generate(context.Background(), m.Encode(g.Text), Options{NumBeams: g.Options["num_beams"], MaxNewTokens: g.Options["max_new_tokens"]})
	if err != nil || !slices.Equal(ids, g.IDs) {
		t.Errorf("%q through the hub cache: %v %v, want %v", g.Text, ids, err, g.IDs)
	}
	if _, err := LoadAny(context.Background(), "Helsinki-NLP/not-cached", 1, hub.Options{}); err == nil || !strings.Contains(err.Error(), "as a hub id") {
		t.Errorf("an uncached model offline: %v", err)
	}
}

// TestEmbedBounds: embed refuses a token id outside the vocabulary and a position past the
// sinusoids' table, naming them (the tokenizer and the cache's capacity keep both in range;
// this is what stands between a bug there and an index out of range).
func TestEmbedBounds(t *testing.T) {
	m, _ := load(t)
	n := m.net
	d := n.Shared.Cols()
	dst := tensor.New(1, d)
	for _, c := range []struct {
		id, pos int
		want    string
	}{{-1, 0, "token id -1 outside"}, {n.Shared.Rows(), 0, fmt.Sprintf("token id %d outside", n.Shared.Rows())},
		{0, n.positions.Rows(), fmt.Sprintf("position %d beyond", n.positions.Rows())}} {
		if err := n.embed(dst, []int{c.id}, c.pos); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("id %d at %d: %v, want %q", c.id, c.pos, err, c.want)
		}
	}
	if err := n.embed(dst, []int{n.Shared.Rows() - 1}, n.positions.Rows()-1); err != nil {
		t.Errorf("the last id at the last position: %v", err)
	}
}

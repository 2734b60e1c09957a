// Package golden gives tests access to the reference data in testdata/golden: what transformers
// 5.17 computed from the tiny BLIP checkpoints (see testdata/golden/README.md). It is for tests
// only.
package golden

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/imagesemantics/blipgo/safetensors"
)

// Dir returns the absolute path of testdata/golden, found by walking up from the working
// directory (a package folder when run by go test).
func Dir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "testdata", "golden")
		if _, err := os.Stat(filepath.Join(p, "cases.json")); err == nil {
			return p, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("golden: testdata/golden/cases.json not found above %s", wd)
		}
	}
}

// Path joins elements onto Dir, panicking when the data is missing (a broken checkout).
func Path(elem ...string) string {
	d, err := Dir()
	if err != nil {
		panic(err)
	}
	return filepath.Join(append([]string{d}, elem...)...)
}

// DecodeFile opens the reference file at path (relative to the golden folder) and decodes it.
func DecodeFile[T any](path string, decode func(io.Reader) (T, error)) (T, error) {
	f, err := os.Open(Path(path))
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	return decode(f)
}

// Image is an entry of cases.json "images".
type Image struct {
	Name            string            `json:"name"`
	File            string            `json:"file"`
	Format          string            `json:"format"`
	Mode            string            `json:"mode"`
	Size            []int             `json:"size"`
	ExifOrientation *int              `json:"exif_orientation"`
	Decoded         string            `json:"decoded"`
	Resized         map[string]string `json:"resized"`
}

// Vision is an entry of cases.json "vision".
type Vision struct {
	Model, Image, File, Key string
	Shape                   []int
}

// Logits is an entry of cases.json "logits".
type Logits struct {
	Model, Image, File, Key string
	Prompt                  string
	InputIDs                []int `json:"input_ids"`
	Shape                   []int
}

// Options are transformers generate kwargs as recorded in cases.json.
type Options struct {
	MaxLength         *int     `json:"max_length"`
	MaxNewTokens      *int     `json:"max_new_tokens"`
	MinLength         *int     `json:"min_length"`
	NumBeams          *int     `json:"num_beams"`
	RepetitionPenalty *float64 `json:"repetition_penalty"`
	NoRepeatNgramSize *int     `json:"no_repeat_ngram_size"`
	LengthPenalty     *float64 `json:"length_penalty"`
}

// Generate is an entry of cases.json "generate".
type Generate struct {
	Model, Image, Name string
	Prompt             *string
	PromptIDs          []int `json:"prompt_ids"`
	Options            Options
	IDs                []int
	Text               string
	MinTop2Gap         *float64 `json:"min_top2_gap"`
	SequenceScore      *float64 `json:"sequence_score"`
}

// BatchCheck is an entry of cases.json "batch_checks".
type BatchCheck struct {
	Model     string
	Images    []string
	BatchIDs  [][]int `json:"batch_ids"`
	SingleIDs [][]int `json:"single_ids"`
}

// Encode and Decode are the tokenizer cases.
type Encode struct {
	Vocab  string
	Text   string
	IDs    []int
	Tokens []string
}

type Decode struct {
	Vocab             string
	IDs               []int
	SkipSpecialTokens bool `json:"skip_special_tokens"`
	CleanUp           bool `json:"clean_up_tokenization_spaces"`
	Text              string
}

// HashRun is one run of the full-size hash model.
type HashRun struct {
	Image    string
	DType    string `json:"dtype"`
	Generate map[string]struct {
		IDs      []int     `json:"ids"`
		Text     string    `json:"text"`
		Top2Gaps []float64 `json:"top2_gaps"`
	}
}

// VQA is a question-answering case: the question's token ids, the generate kwargs, and the
// answer's ids (BOS first) and text.
type VQA struct {
	Model, Image, Question, Name string
	QuestionIDs                  []int `json:"question_ids"`
	Options                      Options
	IDs                          []int
	Text                         string
}

// ITM is an image-text matching case: for each text (a padded batch), the ITM head's logits,
// the match probability (softmax index 1) and the cosine similarity of the projected features
// (one row per text of the repeated image, all rows equal).
type ITM struct {
	Model, Image  string
	Texts         []string
	InputIDs      [][]int     `json:"input_ids"`
	AttentionMask [][]int     `json:"attention_mask"`
	ITMLogits     [][]float64 `json:"itm_logits"`
	ITMProbMatch  []float64   `json:"itm_prob_match"`
	Cosine        [][]float64 `json:"cosine"`
}

// Cases is cases.json.
type Cases struct {
	Images      []Image
	Vision      []Vision
	Logits      []Logits
	Generate    []Generate
	VQA         []VQA
	ITM         []ITM
	BatchChecks []BatchCheck `json:"batch_checks"`
	Tokenizer   struct {
		Encode []Encode
		Decode []Decode
	}
	Hashmodel struct {
		Check      map[string]json.RawMessage
		Ties       [][]string
		Config     json.RawMessage
		Parameters [][]json.RawMessage
		Runs       []HashRun
	}
}

// Load parses cases.json.
func Load() (*Cases, error) {
	data, err := os.ReadFile(Path("cases.json"))
	if err != nil {
		return nil, err
	}
	c := new(Cases)
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("golden: cases.json: %v", err)
	}
	return c, nil
}

// ImageByName finds an image entry.
func (c *Cases) ImageByName(name string) (Image, bool) {
	for _, im := range c.Images {
		if im.Name == name {
			return im, true
		}
	}
	return Image{}, false
}

// Tensor reads a reference tensor from testdata/golden/FILE.
func Tensor(file, key string) ([]float32, []int, error) {
	f, err := safetensors.Open(Path(file))
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	info, ok := f.Info(key)
	if !ok {
		return nil, nil, fmt.Errorf("golden: %s has no %q", file, key)
	}
	v, err := f.Float32(key)
	if err != nil {
		return nil, nil, err
	}
	return append([]float32(nil), v...), info.Shape, nil
}

// MaxAbsDiff is the largest |a[i]-b[i]| and the mean of them.
func MaxAbsDiff(a, b []float32) (maxDiff, mean float64) {
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		if d < 0 {
			d = -d
		}
		maxDiff = max(maxDiff, d)
		mean += d
	}
	if len(a) > 0 {
		mean /= float64(len(a))
	}
	return maxDiff, mean
}

// Top2Gap is the difference between the two largest scores: how near a greedy step was to a
// tie.
func Top2Gap(scores []float32) float64 {
	a, b := math.Inf(-1), math.Inf(-1)
	for _, v := range scores {
		x := float64(v)
		if x > a {
			a, b = x, a
		} else if x > b {
			b = x
		}
	}
	return a - b
}

// ModelFiles returns the files of a golden model folder: a name under models/ (blip-tiny-a),
// or a path under the golden root (marian/marian-tiny).
func ModelFiles(model string) (map[string][]byte, error) {
	src := Path("models", model)
	if strings.Contains(model, "/") {
		src = Path(model)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if files[e.Name()], err = os.ReadFile(filepath.Join(src, e.Name())); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// CopyModel copies a golden model folder into dir, so that a test can damage the copy.
func CopyModel(name, dir string) error {
	files, err := ModelFiles(name)
	if err != nil {
		return err
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// HubCommit is the commit MakeHubCache files snapshots under.
const HubCommit = "fedcba9876543210fedcba9876543210fedcba98"

// MakeHubCache lays a golden model out in cache the way the Python hub client does: blobs named
// by content hash, snapshots/COMMIT/FILE symlinks to them, refs/main holding the commit.
func MakeHubCache(cache, repo, model string) error {
	folder := filepath.Join(cache, "models--"+strings.ReplaceAll(repo, "/", "--"))
	snap := filepath.Join(folder, "snapshots", HubCommit)
	for _, d := range []string{filepath.Join(folder, "blobs"), snap, filepath.Join(folder, "refs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	files, err := ModelFiles(model)
	if err != nil {
		return err
	}
	for name, b := range files {
		sum := sha256.Sum256(b)
		blob := hex.EncodeToString(sum[:])
		if err := os.WriteFile(filepath.Join(folder, "blobs", blob), b, 0o644); err != nil {
			return err
		}
		if err := os.Symlink(filepath.Join("..", "..", "blobs", blob), filepath.Join(snap, name)); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(folder, "refs", "main"), []byte(HubCommit), 0o644)
}

// GenerateIDs returns the reference ids of every generate case of one model and image, by case
// name ("default", "prompt", "beam3_min5_max20", ...).
func (c *Cases) GenerateIDs(model, image string) map[string][]int {
	ids := map[string][]int{}
	for _, g := range c.Generate {
		if g.Model == model && g.Image == image {
			ids[g.Name] = g.IDs
		}
	}
	return ids
}

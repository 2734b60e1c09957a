package blip

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/imagesemantics/blipgo/internal/golden"
)

// TestAnswerGolden runs every golden question-answering case (blip-tiny-vqa: bfloat16 weights,
// every key written, tied ones too, no "architectures" in its config): the question's ids and
// the answer's ids and text must be transformers'. The reference records no top-2 gaps; none
// of these cases needs the near-tie allowance.
func TestAnswerGolden(t *testing.T) {
	cases, err := golden.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(cases.VQA) == 0 {
		t.Fatal("no vqa cases")
	}
	models := map[string]*Model{}
	for _, c := range cases.VQA {
		if models[c.Model] == nil {
			models[c.Model] = loadModel(t, c.Model)
			if task := models[c.Model].Task(); task != QuestionAnswering {
				t.Fatalf("%s loaded as %v", c.Model, task)
			}
		}
		m := models[c.Model]
		t.Run(c.Image+"/"+c.Question+"/"+c.Name, func(t *testing.T) {
			if got := m.Tokenizer.Encode(c.Question); !slices.Equal(got, c.QuestionIDs) {
				t.Fatalf("question ids %v, want %v", got, c.QuestionIDs)
			}
			a, err := m.Answer(context.Background(), loadImage(t, m, c.Image), c.Question, optionsOf(golden.Generate{Options: c.Options})...)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a.IDs, c.IDs) {
				t.Fatalf("answer ids\n got %v\nwant %v", a.IDs, c.IDs)
			}
			if a.Text != c.Text {
				t.Errorf("answer %q, want %q", a.Text, c.Text)
			}
		})
	}
}

// TestAnswerBatchGolden asks each image all its golden questions of one options set in one
// AnswerBatch call (greedy: decoded together; beams: one by one): every answer must be the
// reference's, as from Answer.
func TestAnswerBatchGolden(t *testing.T) {
	cases, err := golden.Load()
	if err != nil {
		t.Fatal(err)
	}
	type group struct {
		model, image, name string
		options            golden.Options
		questions          []string
		want               [][]int
	}
	var groups []*group
	for _, c := range cases.VQA {
		i := slices.IndexFunc(groups, func(g *group) bool {
			return g.model == c.Model && g.image == c.Image && g.name == c.Name
		})
		if i < 0 {
			groups = append(groups, &group{model: c.Model, image: c.Image, name: c.Name, options: c.Options})
			i = len(groups) - 1
		}
		groups[i].questions = append(groups[i].questions, c.Question)
		groups[i].want = append(groups[i].want, c.IDs)
	}
	models := map[string]*Model{}
	batched := 0
	for _, g := range groups {
		if len(g.questions) < 2 {
			continue
		}
		batched++
		if models[g.model] == nil {
			models[g.model] = loadModel(t, g.model)
		}
		m := models[g.model]
		out, err := m.AnswerBatch(context.Background(), loadImage(t, m, g.image), g.questions, optionsOf(golden.Generate{Options: g.options})...)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range out {
			if !slices.Equal(a.IDs, g.want[i]) {
				t.Errorf("%s %s %q: ids\n got %v\nwant %v", g.image, g.name, g.questions[i], a.IDs, g.want[i])
			}
		}
	}
	if batched == 0 {
		t.Fatal("no image has two golden questions under one options set; the test checks nothing")
	}
	t.Logf("%d batches", batched)
}

// Tolerances of image-text matching against transformers' float32 outputs: logits and
// probabilities of the ITM head, and cosines, are sums of the same float32 products in
// another order (measured at most 1.1e-6, 1.2e-7 and 9.7e-8).
const (
	itmLogitTol  = 1e-5
	itmProbTol   = 1e-6
	itmCosineTol = 1e-6
)

// TestMatchGolden runs the golden image-text matching cases: ITM logits, match probabilities
// and cosines within the tolerances above, and the same ranking of the texts by each.
func TestMatchGolden(t *testing.T) {
	cases, err := golden.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(cases.ITM) == 0 {
		t.Fatal("no itm cases")
	}
	for _, c := range cases.ITM {
		t.Run(c.Image, func(t *testing.T) {
			m := loadModel(t, c.Model)
			for i, text := range c.Texts {
				want := c.InputIDs[i][:countOnes(c.AttentionMask[i])]
				if got := m.Tokenizer.Encode(text); !slices.Equal(got, want) {
					t.Fatalf("text %q: ids %v, want %v", text, got, want)
				}
			}
			got, err := m.Match(context.Background(), loadImage(t, m, c.Image), c.Texts...)
			if err != nil {
				t.Fatal(err)
			}
			var worst [3]float64
			for i, g := range got {
				for j := 0; j < 2; j++ {
					worst[0] = max(worst[0], math.Abs(float64(g.ITMLogits[j])-c.ITMLogits[i][j]))
				}
				worst[1] = max(worst[1], math.Abs(float64(g.ITMProb)-c.ITMProbMatch[i]))
				worst[2] = max(worst[2], math.Abs(float64(g.Cosine)-c.Cosine[0][i]))
			}
			t.Logf("max |diff|: ITM logits %.3g, probabilities %.3g, cosines %.3g", worst[0], worst[1], worst[2])
			if worst[0] > itmLogitTol || worst[1] > itmProbTol || worst[2] > itmCosineTol {
				t.Errorf("beyond tolerance (%g, %g, %g)", itmLogitTol, itmProbTol, itmCosineTol)
			}
			rank := func(score func(i int) float64) []int {
				idx := []int{0, 1, 2}[:len(got)]
				slices.SortFunc(idx, func(a, b int) int { return -cmpFloat(score(a), score(b)) })
				return idx
			}
			if a, b := rank(func(i int) float64 { return float64(got[i].ITMProb) }), rank(func(i int) float64 { return c.ITMProbMatch[i] }); !slices.Equal(a, b) {
				t.Errorf("ITM ranking %v, transformers' %v", a, b)
			}
			if a, b := rank(func(i int) float64 { return float64(got[i].Cosine) }), rank(func(i int) float64 { return c.Cosine[0][i] }); !slices.Equal(a, b) {
				t.Errorf("cosine ranking %v, transformers' %v", a, b)
			}
			// The retrieval embeddings give Match's cosines.
			ie, err := m.ImageEmbedding(context.Background(), loadImage(t, m, c.Image))
			if err != nil {
				t.Fatal(err)
			}
			for i, text := range c.Texts {
				te, err := m.TextEmbedding(context.Background(), text)
				if err != nil {
					t.Fatal(err)
				}
				if d := math.Abs(float64(dot(ie, te) - got[i].Cosine)); d > 1e-6 {
					t.Errorf("%q: embeddings' dot %v, Match's cosine %v", text, dot(ie, te), got[i].Cosine)
				}
			}
		})
	}
}

func countOnes(mask []int) int {
	n := 0
	for _, v := range mask {
		n += v
	}
	return n
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestUnsupportedMethods: a method the checkpoint cannot serve returns a typed error naming
// the architecture; every method after Close returns ErrClosed.
func TestUnsupportedMethods(t *testing.T) {
	ctx := context.Background()
	capt := loadModel(t, "blip-tiny-a")
	img := loadImage(t, capt, "chelsea")
	var ue *UnsupportedError
	if _, err := capt.Answer(ctx, img, "what?"); !errors.As(err, &ue) || ue.Architecture != "BlipForConditionalGeneration" || ue.Needs != QuestionAnswering {
		t.Errorf("Answer on a captioning model: %v", err)
	}
	if _, err := capt.AnswerBatch(ctx, img, []string{"what?"}); !errors.As(err, &ue) || ue.Method != "AnswerBatch" {
		t.Errorf("AnswerBatch on a captioning model: %v", err)
	}
	if _, err := capt.Match(ctx, img, "a cat"); !errors.As(err, &ue) {
		t.Errorf("Match on a captioning model: %v", err)
	}
	itm := loadModel(t, "blip-tiny-itm")
	if _, err := itm.Caption(ctx, img); !errors.As(err, &ue) || ue.Architecture != "BlipForImageTextRetrieval" {
		t.Errorf("Caption on a matching model: %v", err)
	}
	if _, err := itm.Answer(ctx, img, "what?"); !errors.As(err, &ue) {
		t.Errorf("Answer on a matching model: %v", err)
	}
	vqa := loadModel(t, "blip-tiny-vqa")
	if _, err := vqa.Caption(ctx, img); !errors.As(err, &ue) || ue.Architecture != "BlipForQuestionAnswering" {
		t.Errorf("Caption on a question-answering model: %v", err)
	}
	for _, m := range []*Model{capt, itm, vqa} {
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		pixels := make([]float32, 3*384*384)
		for name, err := range map[string]error{
			"Caption": func() error { _, err := m.Caption(ctx, img); return err }(),
			"Answer":  func() error { _, err := m.Answer(ctx, img, "what?"); return err }(),
			"AnswerBatch": func() error {
				_, err := m.AnswerBatch(ctx, img, []string{"what?", "why?"})
				return err
			}(),
			"Match":  func() error { _, err := m.Match(ctx, img, "a cat"); return err }(),
			"Encode": func() error { _, err := m.Encode(ctx, img); return err }(),
			"EncodePixels": func() error {
				_, err := m.EncodePixels(ctx, pixels)
				return err
			}(),
			"DecoderLogits":  func() error { _, err := m.DecoderLogits(ctx, nil, []int{1}); return err }(),
			"ImageEmbedding": func() error { _, err := m.ImageEmbedding(ctx, img); return err }(),
			"TextEmbedding":  func() error { _, err := m.TextEmbedding(ctx, "a cat"); return err }(),
		} {
			if !errors.Is(err, ErrClosed) {
				t.Errorf("%s after Close: %v, want ErrClosed", name, err)
			}
		}
	}
}

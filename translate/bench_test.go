package translate

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/imagesemantics/blipgo/internal/bind"
	"github.com/imagesemantics/blipgo/tensor"
)

// BenchmarkOpusMTShape times one caption's translation with a model of
// Helsinki-NLP/opus-mt-en-de's shape (d_model 512, 6+6 layers, 8 heads, FFN 2048, 58,101
// tokens) and random weights, 4 beams and 20 new tokens, on GOMAXPROCS threads: the time
// -translate adds to a caption. (Tokenizers are the tiny model's: their cost is negligible.)
//
//	go test -run '^$' -bench OpusMTShape -benchtime 5x ./translate
func BenchmarkOpusMTShape(b *testing.B) {
	tiny, _ := load(b)
	c := *tiny.Config
	c.VocabSize, c.DModel, c.EncoderLayers, c.DecoderLayers = 58101, 512, 6, 6
	c.EncoderHeads, c.DecoderHeads, c.EncoderFFN, c.DecoderFFN, c.MaxPositions = 8, 8, 2048, 2048, 512
	m := &Model{Config: &c, gen: tiny.gen, source: tiny.source, target: tiny.target, vocab: tiny.vocab, pieces: tiny.pieces,
		pool: tensor.NewPool(0), arena: tensor.NewArena()}
	defer m.arena.Free()
	m.net = newNetwork(&c)
	r := rand.New(rand.NewPCG(1, 2))
	bind.Walk("", m.net, func(_ string, slot **tensor.Tensor, _ bool) {
		t := *slot
		t.Data = make([]float32, t.Len())
		for i := range t.Data {
			t.Data[i] = float32(r.NormFloat64() * 0.05)
		}
	})
	m.net.prepare(m.pool, m.arena)
	caption := "a cat sitting on a couch with a remote control"
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Translate(context.Background(), []string{caption}, Options{NumBeams: 4, MaxNewTokens: 20}); err != nil {
			b.Fatal(err)
		}
	}
}

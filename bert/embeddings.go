package bert

import (
	"fmt"

	"github.com/imagesemantics/blipgo/tensor"
)

// Embedding is a lookup table, Weight [rows, H].
type Embedding struct {
	Weight *tensor.Tensor `weights:"weight"`
}

// Embeddings sums word and absolute position embeddings and normalises them.
type Embeddings struct {
	WordEmbeddings     Embedding        `weights:"word_embeddings"`     // [V, H]
	PositionEmbeddings Embedding        `weights:"position_embeddings"` // [P, H]
	LayerNorm          tensor.LayerNorm `weights:"LayerNorm"`

	tied *tensor.Linear // the LM head decoder the word embeddings are read from, or nil
}

func newEmbeddings(c Config) Embeddings {
	return Embeddings{
		WordEmbeddings:     Embedding{tensor.Declare(c.VocabSize, c.HiddenSize)},
		PositionEmbeddings: Embedding{tensor.Declare(c.MaxPositionEmbeddings, c.HiddenSize)},
		LayerNorm:          tensor.NewLayerNorm(c.HiddenSize, c.LayerNormEps),
	}
}

// Forward writes dst [len(ids), H]: token ids[i] at position pos0+i.
func (e *Embeddings) Forward(p *tensor.Pool, dst *tensor.Tensor, ids []int, pos0 int) {
	w, pe := e.WordEmbeddings.Weight, e.PositionEmbeddings.Weight
	for i, id := range ids {
		if id < 0 || id >= w.Rows() || pos0+i >= pe.Rows() {
			panic(fmt.Sprintf("bert: token %d at position %d outside the tables", id, pos0+i))
		}
		row := dst.Row(i)
		if e.tied != nil {
			e.tied.WeightRow(id, row)
		} else {
			copy(row, w.Row(id))
		}
		tensor.AddInPlace(row, pe.Row(pos0+i))
	}
	e.LayerNorm.Forward(p, dst, dst)
}

// TieTo makes the word embeddings read their rows from l's weight (an LM head's decoder tied
// to them, already prepared) when l holds them exactly, and returns the embedding table it no
// longer needs (nil when it keeps it).
func (e *Embeddings) TieTo(l *tensor.Linear) []float32 {
	w := e.WordEmbeddings.Weight
	probe := make([]float32, w.Cols())
	if l.Out() != w.Rows() || l.In() != w.Cols() || !l.WeightRow(0, probe) {
		return nil
	}
	e.tied = l
	data := w.Data
	w.Data = nil
	return data
}

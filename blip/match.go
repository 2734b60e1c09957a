package blip

import (
	"context"
	"fmt"
	"image"
	"math"

	"github.com/imagesemantics/blipgo/bert"
	"github.com/imagesemantics/blipgo/tensor"
)

// Match is how well one text describes an image.
type Match struct {
	Text string
	// ITMProb is the image-text matching head's probability that the text matches (the
	// softmax of ITMLogits, index 1): transformers' BlipForImageTextRetrieval with
	// use_itm_head=True. The head reads the text and the image together.
	ITMProb   float32
	ITMLogits [2]float32
	// Cosine is the cosine similarity of the image's and the text's projected features
	// (use_itm_head=False): the two are embedded apart, so it is what retrieval over many
	// images ranks by (see ImageEmbedding and TextEmbedding).
	Cosine float32
}

// Match scores each text against an image with an image-text matching checkpoint
// (BlipForImageTextRetrieval). Texts are tokenized as transformers' processor does ([CLS]
// text [SEP]); each is encoded at its own length, as a padded batch with its attention mask.
func (m *Model) Match(ctx context.Context, img image.Image, texts ...string) ([]Match, error) {
	if err := m.acquire("Match", ImageTextMatching); err != nil {
		return nil, err
	}
	defer m.release()
	ids, err := m.textIDs(texts)
	if err != nil {
		return nil, err
	}
	emb, err := m.encode(ctx, img, nil)
	if err != nil {
		return nil, err
	}
	imageFeat := m.projectImage(emb)
	if err := tensor.CheckFinite("projected image feature", imageFeat); err != nil {
		return nil, err
	}
	joint, err := m.encodeWithImage(ctx, ids, emb)
	if err != nil {
		return nil, err
	}
	alone, err := m.Encoder.Encode(ctx, m.pool, ids, nil)
	if err != nil {
		return nil, err
	}
	out := make([]Match, len(texts))
	logits := tensor.New(1, 2)
	for i, text := range texts {
		m.itm.ITM.Forward(m.pool, logits, tensor.FromData(joint[i].Row(0), 1, joint[i].Cols()))
		if err := tensor.CheckFinite(fmt.Sprintf("ITM logits of text %d", i), logits.Data); err != nil {
			return nil, err
		}
		l0, l1 := logits.Data[0], logits.Data[1]
		out[i] = Match{
			Text:      text,
			ITMLogits: [2]float32{l0, l1},
			ITMProb:   float32(1 / (1 + math.Exp(float64(l0-l1)))),
			Cosine:    dot(imageFeat, m.projectText(alone[i])),
		}
	}
	return out, nil
}

// ImageEmbedding is an image's normalised projected feature [image_text_hidden_size]: the
// vision encoder's first token through vision_proj. Its dot product with a TextEmbedding is
// Match's Cosine, so many images can be embedded once and ranked by any query.
func (m *Model) ImageEmbedding(ctx context.Context, img image.Image) ([]float32, error) {
	if err := m.acquire("ImageEmbedding", ImageTextMatching); err != nil {
		return nil, err
	}
	defer m.release()
	emb, err := m.encode(ctx, img, nil)
	if err != nil {
		return nil, err
	}
	return m.projectImage(emb), nil
}

// TextEmbedding is a text's normalised projected feature [image_text_hidden_size]: the text
// encoder's first token, without the image, through text_proj.
func (m *Model) TextEmbedding(ctx context.Context, text string) ([]float32, error) {
	if err := m.acquire("TextEmbedding", ImageTextMatching); err != nil {
		return nil, err
	}
	defer m.release()
	ids, err := m.textIDs([]string{text})
	if err != nil {
		return nil, err
	}
	hidden, err := m.Encoder.Encode(ctx, m.pool, ids, nil)
	if err != nil {
		return nil, err
	}
	return m.projectText(hidden[0]), nil
}

// encodeWithImage runs each text's ids through the text encoder at its own length,
// cross-attending to the one image's embeddings emb [N, D]: each text's hidden states.
func (m *Model) encodeWithImage(ctx context.Context, ids [][]int, emb *tensor.Tensor) ([]*tensor.Tensor, error) {
	image := m.Encoder.Cross(m.pool, emb, tensor.Float32) // read once per text: nothing to save
	crosses := make([]*bert.Cross, len(ids))
	for i := range crosses {
		crosses[i] = image
	}
	return m.Encoder.Encode(ctx, m.pool, ids, crosses)
}

// textIDs tokenizes texts for the text encoder: [CLS] text [SEP], within the position table.
func (m *Model) textIDs(texts []string) ([][]int, error) {
	if len(texts) == 0 {
		return nil, fmt.Errorf("%w: no text given", ErrOption)
	}
	ids := make([][]int, len(texts))
	for i, t := range texts {
		ids[i] = m.Tokenizer.Encode(t)
		if max := m.Config.TextConfig.MaxPositionEmbeddings; len(ids[i]) > max {
			return nil, fmt.Errorf("%w: text %d is %d tokens, the model takes at most %d", ErrOption, i, len(ids[i]), max)
		}
	}
	return ids, nil
}

// projectImage is the normalised vision_proj of the first image embedding.
func (m *Model) projectImage(emb *tensor.Tensor) []float32 {
	return project(m.pool, &m.itm.VisionProj, emb.Row(0))
}

// projectText is the normalised text_proj of the first token's hidden state.
func (m *Model) projectText(hidden *tensor.Tensor) []float32 {
	return project(m.pool, &m.itm.TextProj, hidden.Row(0))
}

// project applies l to the vector x and scales the result to unit length (as torch's
// normalize: divided by max(‖y‖, 1e-12)).
func project(p *tensor.Pool, l *tensor.Linear, x []float32) []float32 {
	y := tensor.New(1, l.Out())
	l.Forward(p, y, tensor.FromData(x, 1, len(x)))
	var n float64
	for _, v := range y.Data {
		n += float64(v) * float64(v)
	}
	n = max(math.Sqrt(n), 1e-12)
	for i := range y.Data {
		y.Data[i] = float32(float64(y.Data[i]) / n)
	}
	return y.Data
}

func dot(a, b []float32) float32 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return float32(s)
}

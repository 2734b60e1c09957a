package blip

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"io"
	"os"
	"time"

	"github.com/imagesemantics/blipgo/bert"
	"github.com/imagesemantics/blipgo/generate"
	"github.com/imagesemantics/blipgo/imageproc"
	"github.com/imagesemantics/blipgo/tensor"
)

// Caption is a generated caption.
type Caption struct {
	// Text is the decoded caption, prompt included, special tokens skipped.
	Text string
	// IDs is the whole generated sequence: BOS, prompt, new tokens and, when generation ended
	// on it, the end token.
	IDs []int
	// Score is beam search's length-normalised log-probability of the sequence (0 for greedy).
	Score float32
}

// DecodeImage reads an image file's bytes (JPEG, PNG, GIF, WebP, BMP, TIFF), applies its EXIF
// orientation and converts it to RGB, as transformers' load_image does. Pass the result to
// Caption: an image.Image decoded elsewhere has lost its EXIF orientation.
func (m *Model) DecodeImage(r io.Reader) (*imageproc.RGB, error) {
	return imageproc.Decode(r, m.maxPixels)
}

// CaptionFile decodes the image file at path and captions it.
func (m *Model) CaptionFile(ctx context.Context, path string, opts ...Option) (*Caption, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	img, err := m.DecodeImage(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c, err := m.Caption(ctx, img, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Caption describes one image.
func (m *Model) Caption(ctx context.Context, img image.Image, opts ...Option) (*Caption, error) {
	cs, err := m.CaptionBatch(ctx, []image.Image{img}, opts...)
	if err != nil {
		return nil, err
	}
	return &cs[0], nil
}

// CaptionBatch describes several images with the same options. Greedy search decodes them
// together, one step for the whole batch; each result equals what Caption gives for that image.
func (m *Model) CaptionBatch(ctx context.Context, imgs []image.Image, opts ...Option) ([]Caption, error) {
	if err := m.acquire("CaptionBatch", Captioning); err != nil {
		return nil, err
	}
	defer m.release()
	s, err := m.settings(opts)
	if err != nil {
		return nil, err
	}
	if s.timings != nil {
		*s.timings = Timings{}
	}
	crosses := make([]*bert.Cross, len(imgs))
	for i, img := range imgs {
		emb, err := m.encode(ctx, img, s.timings)
		if err != nil {
			if len(imgs) > 1 {
				return nil, fmt.Errorf("image %d: %w", i, err)
			}
			return nil, err
		}
		start := time.Now()
		crosses[i] = m.Decoder.Cross(m.pool, emb, m.precision)
		s.timings.add(stageCross, start)
	}
	return m.generate(ctx, s, m.PromptIDs(s.prompt), crosses)
}

// generate decodes one sequence per source (an image's or a question's cross-attention keys
// and values) from input, greedy (the batch together) or by beam search (one by one).
func (m *Model) generate(ctx context.Context, s *settings, input []int, crosses []*bert.Cross) ([]Caption, error) {
	gs, err := m.searchSettings(s, len(input))
	if err != nil {
		return nil, err
	}
	d := &textDecoder{m: m, crosses: crosses, timings: s.timings}
	out := make([]Caption, len(crosses))
	if gs.NumBeams == 1 {
		seqs, err := generate.Greedy(ctx, d, input, len(crosses), gs)
		if err != nil {
			return nil, err
		}
		for i, seq := range seqs {
			out[i] = Caption{IDs: seq}
		}
	} else {
		for i := range crosses {
			seq, score, err := generate.Beam(ctx, d, input, i, gs)
			if err != nil {
				return nil, err
			}
			out[i] = Caption{IDs: seq, Score: score}
		}
	}
	for i := range out {
		out[i].Text = m.Tokenizer.Decode(out[i].IDs, true, true)
	}
	return out, nil
}

// Encode preprocesses an image and runs the vision encoder: image embeddings [N, D].
func (m *Model) Encode(ctx context.Context, img image.Image) (*tensor.Tensor, error) {
	if err := m.acquire("Encode", 0); err != nil {
		return nil, err
	}
	defer m.release()
	return m.encode(ctx, img, nil)
}

// encode is Encode, timed into tm when it is not nil.
func (m *Model) encode(ctx context.Context, img image.Image, tm *Timings) (*tensor.Tensor, error) {
	start := time.Now()
	rgb, err := imageproc.FromImage(img, m.MaxPixels())
	if err != nil {
		return nil, err
	}
	pixels, err := m.Preprocess.PreprocessContext(ctx, rgb)
	if err != nil {
		return nil, err
	}
	tm.add(stagePreprocess, start)
	start = time.Now()
	emb, err := m.encodePixels(ctx, pixels)
	tm.add(stageVision, start)
	return emb, err
}

// EncodePixels runs the vision encoder on preprocessed pixels [3, S, S]: image embeddings
// [N, D].
func (m *Model) EncodePixels(ctx context.Context, pixels []float32) (*tensor.Tensor, error) {
	if err := m.acquire("EncodePixels", 0); err != nil {
		return nil, err
	}
	defer m.release()
	return m.encodePixels(ctx, pixels)
}

func (m *Model) encodePixels(ctx context.Context, pixels []float32) (*tensor.Tensor, error) {
	vc := m.Config.VisionConfig
	if want := 3 * vc.ImageSize * vc.ImageSize; len(pixels) != want {
		return nil, fmt.Errorf("blip: %d pixel values, the model needs %d (3x%dx%d)", len(pixels), want, vc.ImageSize, vc.ImageSize)
	}
	emb := tensor.New(vc.SeqLen(), vc.HiddenSize)
	if err := m.Vision.Forward(ctx, m.pool, emb, pixels); err != nil {
		return nil, err
	}
	return emb, nil
}

// DecoderLogits runs the decoder over ids (BOS first) attending to image embeddings [N, D] and
// returns the logits of every position, [len(ids), V]: transformers' decoder_logits.
func (m *Model) DecoderLogits(ctx context.Context, emb *tensor.Tensor, ids []int) (*tensor.Tensor, error) {
	if err := m.acquire("DecoderLogits", Captioning); err != nil {
		return nil, err
	}
	defer m.release()
	d := m.Decoder
	cross := d.Cross(m.pool, emb, m.precision)
	hidden := tensor.New(len(ids), d.Config.HiddenSize)
	if err := d.Forward(ctx, m.pool, hidden, [][]int{ids}, []*bert.Cache{d.NewCache(len(ids))}, []*bert.Cross{cross}, nil); err != nil {
		return nil, err
	}
	logits := tensor.New(len(ids), d.Config.VocabSize)
	m.Head.Forward(m.pool, logits, hidden)
	return logits, nil
}

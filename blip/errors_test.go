package blip

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imagesemantics/blipgo/imageproc"
	"github.com/imagesemantics/blipgo/internal/bind"
	"github.com/imagesemantics/blipgo/internal/golden"
	"github.com/imagesemantics/blipgo/safetensors"
	"github.com/imagesemantics/blipgo/tensor"
)

// snapshotCopy copies a golden model folder so a test can damage it.
func snapshotCopy(t *testing.T, model string) string {
	t.Helper()
	dir := t.TempDir()
	if err := golden.CopyModel(model, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func edit(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   []string // substrings of the error
	}{
		{"no config", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "config.json")) }, []string{"config.json", "no such file"}},
		{"config not json", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "config.json"), func(b []byte) []byte { return b[:len(b)/2] })
		}, []string{"config.json", "unexpected end of JSON"}},
		{"heads do not divide", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "config.json"), func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"num_attention_heads": 4,
    "num_hidden_layers": 2,
    "pad_token_id"`), []byte(`"num_attention_heads": 5,
    "num_hidden_layers": 2,
    "pad_token_id"`), 1)
			})
		}, []string{"config.json", "hidden_size 32 is not a multiple of num_attention_heads 5"}},
		{"config shapes differ from weights", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "config.json"), func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"intermediate_size": 256`), []byte(`"intermediate_size": 300`), 1)
			})
		}, []string{"vision_model.encoder.layers.0.mlp.fc1.weight has shape [256 64], the config implies [300 64]"}},
		{"more layers than weights", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "config.json"), func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"num_hidden_layers": 2,
    "patch_size"`), []byte(`"num_hidden_layers": 3,
    "patch_size"`), 1)
			})
		}, []string{"12 missing", "vision_model.encoder.layers.2.layer_norm1.weight"}},
		{"unknown architecture", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "config.json"), func(b []byte) []byte {
				return bytes.Replace(b, []byte("BlipForConditionalGeneration"), []byte("BlipModel"), 1)
			})
		}, []string{"BlipModel", "supported are", "BlipForQuestionAnswering"}},
		{"question answering, text narrower than the image", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "config.json"), func(b []byte) []byte {
				return bytes.Replace(b, []byte("BlipForConditionalGeneration"), []byte("BlipForQuestionAnswering"), 1)
			})
		}, []string{"config.json", "hidden_size 32 differs from encoder_hidden_size 64"}},
		{"generation config not json", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "generation_config.json"), func(b []byte) []byte { return b[:len(b)/2] })
		}, []string{"generation_config.json", "unexpected end of JSON"}},
		{"truncated weights", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "model.safetensors"), func(b []byte) []byte { return b[:len(b)-1000] })
		}, []string{"model.safetensors", "truncated"}},
		{"corrupt weights header", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "model.safetensors"), func(b []byte) []byte {
				c := append([]byte(nil), b...)
				copy(c[8:], "{{{{")
				return c
			})
		}, []string{"model.safetensors", "not valid JSON"}},
		{"no weights", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "model.safetensors")) }, []string{"neither model.safetensors nor model.safetensors.index.json"}},
		{"no tokenizer", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "tokenizer.json"))
			os.Remove(filepath.Join(dir, "vocab.txt"))
		}, []string{"neither tokenizer.json nor vocab.txt"}},
		{"preprocessor size differs", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "preprocessor_config.json"), func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"height": 384`), []byte(`"height": 380`), 1)
			})
		}, []string{"preprocessor_config.json", "differs from vision_config.image_size 384"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := snapshotCopy(t, "blip-tiny-a")
			c.damage(t, dir)
			m, err := Load(dir)
			if err == nil {
				m.Close()
				t.Fatal("loaded a damaged snapshot")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q does not name the snapshot", err)
			}
		})
	}
}

// TestMismatchedCheckpoint swaps in another model's weights: one error lists what is missing,
// misshapen and unused.
func TestMismatchedCheckpoint(t *testing.T) {
	dir := snapshotCopy(t, "blip-tiny-a")
	src := golden.Path("models", "blip-tiny-b")
	os.Remove(filepath.Join(dir, "model.safetensors"))
	for _, n := range []string{"model.safetensors.index.json", "model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors", "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors"} {
		b, _ := os.ReadFile(filepath.Join(src, n))
		os.WriteFile(filepath.Join(dir, n), b, 0o644)
	}
	_, err := Load(dir)
	var be *bind.Error
	if !errors.As(err, &be) {
		t.Fatalf("error %v is not a bind error", err)
	}
	if len(be.Problems) == 0 || len(be.Unused) == 0 {
		t.Errorf("expected shape problems and unused tensors: %v", err)
	}
}

func TestCaptionErrors(t *testing.T) {
	m := loadModel(t, "blip-tiny-b")
	img := loadImage(t, m, "chelsea")
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := m.Caption(ctx, img); !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	})
	t.Run("deadline during beam search", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := m.Caption(ctx, img, Beams(8), MaxNewTokens(60))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v to stop", d)
		}
	})
	for _, c := range []struct {
		name string
		opts []Option
		want string
	}{
		{"zero beams", []Option{Beams(0)}, "beams 0 < 1"},
		{"negative penalty", []Option{RepetitionPenalty(-1)}, "repetition penalty"},
		{"prompt too long", []Option{Prompt("a photo of the"), MaxLength(5)}, "max length is 5"},
		{"beyond positions", []Option{MaxNewTokens(100)}, "exceeds the model's 64 positions"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := m.Caption(context.Background(), img, c.opts...)
			if !errors.Is(err, ErrOption) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want ErrOption with %q", err, c.want)
			}
		})
	}
	t.Run("unreadable image", func(t *testing.T) {
		_, err := m.DecodeImage(strings.NewReader("GIF89a\x01\x00\x01\x00garbage"))
		if !errors.Is(err, imageproc.ErrImage) || !strings.Contains(err.Error(), "gif") {
			t.Errorf("error %v", err)
		}
		p := filepath.Join(t.TempDir(), "x.png")
		os.WriteFile(p, []byte("\x89PNG\r\n\x1a\nbroken"), 0o644)
		if _, err := m.CaptionFile(context.Background(), p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("error %v does not name the file", err)
		}
	})
	t.Run("nil and empty images", func(t *testing.T) {
		if _, err := m.Caption(context.Background(), nil); !errors.Is(err, imageproc.ErrImage) {
			t.Errorf("nil image: %v", err)
		}
		if _, err := m.Caption(context.Background(), image.NewRGBA(image.Rect(0, 0, 0, 5))); !errors.Is(err, imageproc.ErrImage) {
			t.Errorf("empty image: %v", err)
		}
		// Any image.Image a caller builds: an error, never a panic (issue 14).
		for name, bad := range map[string]image.Image{
			"uniform":     image.NewUniform(color.White),
			"short RGB":   &imageproc.RGB{W: 10, H: 10, Pix: make([]uint8, 7)},
			"too tall":    image.NewGray(image.Rect(0, 0, 1, imageproc.MaxSide+1)),
			"short NRGBA": &image.NRGBA{Pix: make([]uint8, 3), Stride: 40, Rect: image.Rect(0, 0, 10, 10)},
		} {
			if _, err := m.Caption(context.Background(), bad); !errors.Is(err, imageproc.ErrImage) {
				t.Errorf("%s: %v", name, err)
			}
		}
		pal := make(color.Palette, 300)
		for i := range pal {
			pal[i] = color.Gray{uint8(i)}
		}
		if _, err := m.Caption(context.Background(), image.NewPaletted(image.Rect(0, 0, 20, 20), pal)); err != nil {
			t.Errorf("300-colour palette: %v", err)
		}
		// In a batch the error names the image at fault; of one image it needs no number.
		if _, err := m.CaptionBatch(context.Background(), []image.Image{img, nil}); !errors.Is(err, imageproc.ErrImage) || !strings.HasPrefix(err.Error(), "image 1: ") {
			t.Errorf("batch with a nil second image: %v", err)
		}
		if _, err := m.CaptionBatch(context.Background(), []image.Image{nil}); !errors.Is(err, imageproc.ErrImage) || strings.HasPrefix(err.Error(), "image ") {
			t.Errorf("batch of a nil image: %v", err)
		}
		if cs, err := m.CaptionBatch(context.Background(), nil); err != nil || len(cs) != 0 {
			t.Errorf("empty batch: %v %v", cs, err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		m2 := loadModel(t, "blip-tiny-b")
		m2.Close()
		if _, err := m2.Caption(context.Background(), img); err == nil {
			t.Error("captioned with a closed model")
		}
	})
}

// setWeight overwrites element k of a float32 tensor of dir's model.safetensors with v.
func setWeight(t *testing.T, dir, name string, k int, v float32) {
	t.Helper()
	ck, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	info, _, ok := ck.Info(name)
	ck.Close()
	if !ok || info.DType != safetensors.F32 {
		t.Fatalf("no float32 tensor %s", name)
	}
	edit(t, filepath.Join(dir, "model.safetensors"), func(b []byte) []byte {
		at := 8 + int64(binary.LittleEndian.Uint64(b[:8])) + info.Begin + 4*int64(k)
		binary.LittleEndian.PutUint32(b[at:], math.Float32bits(v))
		return b
	})
}

// TestNonFinite: a checkpoint holding a NaN is refused at load, naming the tensor; weights
// whose activations overflow make Caption fail naming the layer, not give an empty caption.
func TestNonFinite(t *testing.T) {
	dir := snapshotCopy(t, "blip-tiny-a")
	setWeight(t, dir, "text_decoder.bert.encoder.layer.1.output.dense.weight", 7, float32(math.NaN()))
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), "text_decoder.bert.encoder.layer.1.output.dense.weight: NaN at index 7") {
		t.Errorf("NaN weight: %v", err)
	}

	dir = snapshotCopy(t, "blip-tiny-a")
	for k := 0; k < 32; k++ {
		setWeight(t, dir, "vision_model.encoder.layers.1.layer_norm2.weight", k, 3e38)
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err = m.Caption(context.Background(), loadImage(t, m, "chelsea"))
	var nf *tensor.NonFiniteError
	if !errors.As(err, &nf) || nf.Where != "vision layer 1" {
		t.Errorf("overflowing layer: %v", err)
	}
}

// TestCheckpointReplacedAfterLoad: nothing is read from the checkpoint after Load, so a file
// truncated under a loaded model (a SIGBUS before) changes nothing: the caption is the same.
func TestCheckpointReplacedAfterLoad(t *testing.T) {
	dir := snapshotCopy(t, "blip-tiny-a")
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	img := loadImage(t, m, "chelsea")
	want, err := m.Caption(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, "model.safetensors"), 0); err != nil {
		t.Fatal(err)
	}
	got, err := m.Caption(context.Background(), img)
	if err != nil || !slices.Equal(got.IDs, want.IDs) {
		t.Errorf("after truncation: %v, %v; want %v", got, err, want.IDs)
	}
}

// TestLimits: each bound names the option past it; within them, or with a field of zero, the
// options pass; options out of the library's own ranges fail as in a call.
func TestLimits(t *testing.T) {
	l := ServiceLimits()
	for _, c := range []struct {
		texts int
		opts  []Option
		want  string // "": no error
	}{
		{1, []Option{Beams(8), MaxLength(128), MinLength(128)}, ""},
		{32, []Option{MaxNewTokens(128)}, ""},
		{0, []Option{Beams(9)}, "beams 9 is past this service's limit of 8"},
		{0, []Option{MaxLength(129)}, "max_length 129"},
		{0, []Option{MaxNewTokens(500)}, "max_new_tokens 500"},
		{0, []Option{MinLength(200)}, "min_length 200"},
		{33, nil, "texts 33"},
		{0, []Option{Beams(0)}, "beams"}, // the library's own range
	} {
		err := l.Check(c.texts, c.opts...)
		if c.want == "" && err != nil || c.want != "" && (!errors.Is(err, ErrOption) || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("texts %d, %d options: %v, want %q", c.texts, len(c.opts), err, c.want)
		}
	}
	if err := (Limits{Length: 128}).Check(1000, Beams(64)); err != nil {
		t.Errorf("zero fields bound nothing: %v", err)
	}
}

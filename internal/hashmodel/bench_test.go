package hashmodel

import (
	"context"
	"image"
	"os"
	"testing"
	"time"

	"github.com/imagesemantics/blipgo/blip"
	"github.com/imagesemantics/blipgo/tensor"
)

// The full-size benchmarks need a snapshot written by examples/hashmodel:
//
//	go run ./examples/hashmodel -out /tmp/hash
//	BLIPGO_HASHMODEL=/tmp/hash go test -run '^$' -bench . ./internal/hashmodel
//
// BLIPGO_PRECISION=bfloat16 (or bfloat16x3) loads the model in that precision.
func benchModel(b *testing.B) (*blip.Model, image.Image) {
	dir := os.Getenv("BLIPGO_HASHMODEL")
	if dir == "" {
		b.Skip("set BLIPGO_HASHMODEL to a snapshot written by examples/hashmodel")
	}
	prec := tensor.Float32
	if name := os.Getenv("BLIPGO_PRECISION"); name != "" {
		var err error
		if prec, err = tensor.ParsePrecision(name); err != nil {
			b.Fatal(err)
		}
	}
	m, err := blip.Load(dir, blip.WithPrecision(prec))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m, chelsea(b, m)
}

// BenchmarkCaption is one whole caption of 20 new tokens (the end token ignored).
func BenchmarkCaption(b *testing.B) {
	m, img := benchModel(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Caption(context.Background(), img, blip.MaxNewTokens(20), blip.IgnoreEOS()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCaptionBatch8 captions 8 images in one CaptionBatch call, against 8 Caption calls:
// compare the images/s metrics.
func BenchmarkCaptionBatch8(b *testing.B) {
	m, img := benchModel(b)
	imgs := make([]image.Image, 8)
	for i := range imgs {
		imgs[i] = img
	}
	opts := []blip.Option{blip.MaxNewTokens(20), blip.IgnoreEOS()}
	b.Run("batch", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := m.CaptionBatch(context.Background(), imgs, opts...); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(8*b.N)/b.Elapsed().Seconds(), "images/s")
	})
	b.Run("single", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, im := range imgs {
				if _, err := m.Caption(context.Background(), im, opts...); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(8*b.N)/b.Elapsed().Seconds(), "images/s")
	})
}

// BenchmarkVision is the vision encoder on one image, preprocessing included.
func BenchmarkVision(b *testing.B) {
	m, img := benchModel(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Encode(context.Background(), img); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeStep reports one greedy decoder step: a caption of 21 new tokens minus a
// caption of 1, divided by 20.
func BenchmarkDecodeStep(b *testing.B) {
	m, img := benchModel(b)
	var long, short float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, n := range []int{1, 21} {
			start := time.Now()
			if _, err := m.Caption(context.Background(), img, blip.MaxNewTokens(n), blip.IgnoreEOS()); err != nil {
				b.Fatal(err)
			}
			if n == 1 {
				short += time.Since(start).Seconds()
			} else {
				long += time.Since(start).Seconds()
			}
		}
	}
	b.ReportMetric((long-short)/20/float64(b.N)*1000, "ms/step")
}

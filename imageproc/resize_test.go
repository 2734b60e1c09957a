package imageproc

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"testing"
)

// TestResizeFiltersAsPillow resizes a 36x28 crop of chelsea.png with each of Pillow's five
// filters (a checkpoint's preprocessor_config.json may name any) to sizes that take every path:
// down by a fraction, up, down by exactly 2 and 3x4 (where the box filter's half-open window
// meets pixel centres), one side only (each pass alone), and to one pixel. The references are
// Pillow 9.4's Image.resize, concatenated raw RGB in this order (testdata/resize_pillow.py
// writes them): bit for bit.
func TestResizeFiltersAsPillow(t *testing.T) {
	f, err := os.Open("testdata/resize_pillow.bin.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	want, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	full := readRGB(t, "images/chelsea.png")
	const x0, y0, cw, ch = 100, 80, 36, 28
	src := &RGB{W: cw, H: ch, Pix: make([]uint8, cw*ch*3)}
	for y := range ch {
		copy(src.Pix[y*cw*3:(y+1)*cw*3], full.Pix[((y0+y)*full.W+x0)*3:])
	}
	filters := []struct {
		name string
		code int
	}{{"lanczos", ResampleLanczos}, {"bilinear", ResampleBilinear}, {"bicubic", ResampleBicubic}, {"box", ResampleBox}, {"hamming", ResampleHamming}}
	sizes := [][2]int{{16, 11}, {50, 41}, {18, 14}, {12, 7}, {20, 28}, {36, 13}, {1, 1}}
	off := 0
	for _, fl := range filters {
		for _, sz := range sizes {
			w, h := sz[0], sz[1]
			n := w * h * 3
			if off+n > len(want) {
				t.Fatalf("references end at %d bytes, before %s %dx%d", len(want), fl.name, w, h)
			}
			ref := &RGB{W: w, H: h, Pix: want[off : off+n]}
			off += n
			got := Resize(src, w, h, fl.code)
			if got.W != w || got.H != h || len(got.Pix) != n {
				t.Errorf("%s to %dx%d: got %dx%d, %d bytes", fl.name, w, h, got.W, got.H, len(got.Pix))
				continue
			}
			if !bytes.Equal(got.Pix, ref.Pix) {
				maxD, mean := pixelDiff(got, ref)
				t.Errorf("%s %dx%d -> %dx%d differs from Pillow: max %d, mean %.4f", fl.name, cw, ch, w, h, maxD, mean)
			}
		}
	}
	if off != len(want) {
		t.Errorf("%d bytes of references, %d read", len(want), off)
	}
}

// TestResizeCancelledSmall: a cancelled context stops a resize however few rows it writes (one
// here, whichever pass runs).
func TestResizeCancelledSmall(t *testing.T) {
	src := &RGB{W: 9, H: 7, Pix: bytes.Repeat([]byte{9}, 9*7*3)}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	row := &RGB{W: 9, H: 1, Pix: bytes.Repeat([]byte{9}, 9*3)}
	for _, c := range []struct {
		src  *RGB
		w, h int
	}{{src, 4, 1}, {src, 9, 1}, {src, 4, 7}, {row, 4, 1}} {
		if _, err := ResizeContext(ctx, c.src, c.w, c.h, ResampleBicubic); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled resize of %dx%d to %dx%d: %v", c.src.W, c.src.H, c.w, c.h, err)
		}
	}
}

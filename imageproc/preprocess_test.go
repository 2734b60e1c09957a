package imageproc

import (
	"bytes"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/imagesemantics/blipgo/internal/golden"
)

func readRGB(t *testing.T, rel string) *RGB {
	t.Helper()
	data, err := os.ReadFile(golden.Path(rel))
	if err != nil {
		t.Fatal(err)
	}
	img, err := DecodeBytes(data, 0)
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return img
}

func pixelDiff(a, b *RGB) (maxDiff int, mean float64) {
	for i := range a.Pix {
		d := int(a.Pix[i]) - int(b.Pix[i])
		if d < 0 {
			d = -d
		}
		maxDiff = max(maxDiff, d)
		mean += float64(d)
	}
	return maxDiff, mean / float64(len(a.Pix))
}

// jpegBound is the largest per-channel difference allowed between our JPEG decode and
// Pillow's (libjpeg-turbo): the two IDCTs round differently. Measured on the golden JPEGs
// (4:2:0, 4:4:4, progressive, gray, CMYK, EXIF-rotated): max 3, mean 0.018-0.036.
const jpegBound = 3

// TestDecodeGolden compares our decode with Pillow's: bit-exact for lossless sources, within
// jpegBound for JPEG.
func TestDecodeGolden(t *testing.T) {
	cases, err := golden.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range cases.Images {
		t.Run(im.Name, func(t *testing.T) {
			got := readRGB(t, im.File)
			ref := im.Decoded
			if im.Name == "camera_16" {
				// Pillow clips 16-bit gray; the right decode scales it and equals camera.png.
				ref = "images/camera.png"
			}
			want := readRGB(t, ref)
			if got.W != want.W || got.H != want.H {
				t.Fatalf("decoded %dx%d, want %dx%d", got.W, got.H, want.W, want.H)
			}
			maxD, mean := pixelDiff(got, want)
			if im.Format == "JPEG" {
				t.Logf("%s: JPEG decode vs Pillow: max %d, mean %.4f", im.Name, maxD, mean)
				if maxD > jpegBound {
					t.Errorf("JPEG decode differs from Pillow by up to %d (bound %d), mean %.4f", maxD, jpegBound, mean)
				}
				return
			}
			if maxD != 0 {
				t.Errorf("lossless decode differs from Pillow: max %d, mean %.4f", maxD, mean)
			}
		})
	}
}

// TestResizeGolden feeds Pillow's own decode to Resize: the result must equal Pillow's resize
// bit for bit, at both sizes, for every image.
func TestResizeGolden(t *testing.T) {
	cases, err := golden.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range cases.Images {
		for size, file := range im.Resized {
			t.Run(im.Name+"/"+size, func(t *testing.T) {
				s, _ := strconv.Atoi(size)
				src := readRGB(t, im.Decoded)
				if im.Name == "camera_16" {
					return // its reference is Pillow's clipped decode, checked below through camera
				}
				got := Resize(src, s, s, ResampleBicubic)
				want := readRGB(t, file)
				if maxD, mean := pixelDiff(got, want); maxD != 0 {
					t.Errorf("resize %dx%d -> %d differs from Pillow: max %d, mean %.4f", src.W, src.H, s, maxD, mean)
				}
			})
		}
	}
}

// TestPreprocessGolden checks the whole path (decode, resize, rescale, normalize) against the
// pixel_values transformers' PIL processor produced for chelsea: exactly equal.
func TestPreprocessGolden(t *testing.T) {
	want, shape, err := golden.Tensor("tensors/pixel_values.safetensors", "chelsea.384")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultPreprocessConfig()
	got, err := cfg.Preprocess(readRGB(t, "images/chelsea.png"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d values, want %v", len(got), shape)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("pixel_values[%d] = %v, want %v (bit-exact)", i, got[i], want[i])
		}
	}
}

// TestPreprocessLosslessEndToEnd: decoding a lossless file ourselves and resizing gives
// Pillow's r384 exactly.
func TestPreprocessLosslessEndToEnd(t *testing.T) {
	cases, err := golden.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range cases.Images {
		file, ok := im.Resized["384"]
		if !ok || im.Format == "JPEG" {
			continue
		}
		t.Run(im.Name, func(t *testing.T) {
			if im.Name == "camera_16" {
				file = strings.Replace(file, "camera_16", "camera", 1)
			}
			got := Resize(readRGB(t, im.File), 384, 384, ResampleBicubic)
			if maxD, mean := pixelDiff(got, readRGB(t, file)); maxD != 0 {
				t.Errorf("differs from Pillow: max %d, mean %.4f", maxD, mean)
			}
		})
	}
}

// TestDecodeJPEG422: a 4:2:2 JPEG (no golden image is one), decoded through libjpeg's h2v1
// upsampling, against Pillow's decode within jpegBound. testdata/chelsea_422.jpg is a 37x21
// crop of chelsea.png saved by Debian's Pillow 9.4 (quality=90, subsampling=1), and
// chelsea_422.pillow.png that Pillow's decode of it, convert("RGB").
func TestDecodeJPEG422(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "chelsea_422.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if img, err := jpeg.Decode(bytes.NewReader(data)); err != nil || img.(*image.YCbCr).SubsampleRatio != image.YCbCrSubsampleRatio422 {
		t.Fatalf("the test image is not a 4:2:2 JPEG: %v", err)
	}
	got, err := DecodeBytes(data, 0)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := os.ReadFile(filepath.Join("testdata", "chelsea_422.pillow.png"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := DecodeBytes(ref, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.W != want.W || got.H != want.H {
		t.Fatalf("decoded %dx%d, want %dx%d", got.W, got.H, want.W, want.H)
	}
	d, mean := pixelDiff(got, want)
	if d > jpegBound || mean > 0.1 {
		t.Errorf("max difference %d (mean %.3f) from Pillow's decode, want <= %d", d, mean, jpegBound)
	}
	t.Logf("max difference %d, mean %.3f", d, mean)
}

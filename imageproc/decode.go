package imageproc

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"

	// The formats BLIP users send: the standard ones and x/image's.
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

// DefaultMaxPixels is the largest image Decode accepts by default: Pillow's decompression-bomb
// limit (2 × 89,478,485 pixels).
const DefaultMaxPixels = 2 * 89_478_485

// ErrImage is wrapped by every error about an image that cannot be used.
var ErrImage = errors.New("bad image")

// ErrTooLarge is wrapped by the error for an image over the pixel limit.
var ErrTooLarge = errors.New("image too large")

// ImageError says why an image could not be decoded.
type ImageError struct {
	Format string // "jpeg", "png", ... when recognised
	Err    error
}

// Error says what is wrong in a user's words ("png image: unexpected EOF"): the file's name is
// for the caller to add, once.
func (e *ImageError) Error() string {
	if e.Format != "" {
		return fmt.Sprintf("%s image: %v", e.Format, e.Err)
	}
	return e.Err.Error()
}

func (e *ImageError) Unwrap() []error { return []error{ErrImage, e.Err} }

// Decode reads an image (JPEG, PNG, GIF, WebP, BMP or TIFF), applies its EXIF orientation and
// converts it to RGB: what transformers' load_image does with Pillow. Images of more than
// maxPixels pixels (DefaultMaxPixels when maxPixels <= 0) are refused before their pixels are
// decoded.
func Decode(r io.Reader, maxPixels int) (*RGB, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, &ImageError{Err: err}
	}
	return DecodeBytes(data, maxPixels)
}

// DecodeBytes is Decode for an image held in memory.
func DecodeBytes(data []byte, maxPixels int) (*RGB, error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	if len(data) == 0 {
		return nil, &ImageError{Err: errors.New("empty file")}
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, &ImageError{Err: errors.New("unknown format (want JPEG, PNG, GIF, WebP, BMP or TIFF)")}
		}
		return nil, &ImageError{Format: format, Err: err}
	}
	if err := checkSize(cfg.Width, cfg.Height, maxPixels); err != nil {
		return nil, &ImageError{Format: format, Err: err}
	}
	if format == "gif" {
		return decodeGIF(data) // the canvas is the screen checked above; no EXIF in GIFs
	}
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, &ImageError{Format: format, Err: err}
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		// The header promised one size and the pixels came in another: hold the decoded
		// size to the same limits.
		if err := checkSize(b.Dx(), b.Dy(), maxPixels); err != nil {
			return nil, &ImageError{Format: format, Err: err}
		}
	}
	rgb, err := toRGB(img)
	if err != nil {
		return nil, err
	}
	return Orient(rgb, Orientation(data)), nil
}

// MaxSide is the longest side, in pixels, of an image this package accepts: resampling cost
// and coefficient tables grow with a side's length, and no camera or format BLIP meets goes
// beyond it (JPEG stops at 65,535).
const MaxSide = 1 << 16

// checkSize refuses empty images, sides over MaxSide and more than maxPixels pixels
// (DefaultMaxPixels when maxPixels <= 0).
func checkSize(w, h, maxPixels int) error {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	switch {
	case w <= 0 || h <= 0:
		return fmt.Errorf("empty image (%dx%d)", w, h)
	case w > MaxSide || h > MaxSide:
		return fmt.Errorf("%dx%d has a side longer than %d pixels: %w", w, h, MaxSide, ErrTooLarge)
	case int64(w)*int64(h) > int64(maxPixels):
		return fmt.Errorf("%dx%d is more than the %d-pixel limit: %w", w, h, maxPixels, ErrTooLarge)
	}
	return nil
}

// FromImage converts an image decoded elsewhere to RGB (no EXIF is available from it), within
// the same limits as Decode (maxPixels <= 0: DefaultMaxPixels). Any image.Image is accepted:
// one whose bounds are too large (image.Uniform's are nearly infinite) or whose buffers are
// inconsistent is an error, never a panic. An *RGB is checked and returned as it is.
func FromImage(img image.Image, maxPixels int) (*RGB, error) {
	if img == nil {
		return nil, &ImageError{Err: errors.New("nil image")}
	}
	b := img.Bounds()
	if err := checkSize(b.Dx(), b.Dy(), maxPixels); err != nil {
		return nil, &ImageError{Err: err}
	}
	if rgb, ok := img.(*RGB); ok {
		if len(rgb.Pix) != rgb.W*rgb.H*3 {
			return nil, &ImageError{Err: fmt.Errorf("RGB of %dx%d has %d samples, want %d", rgb.W, rgb.H, len(rgb.Pix), rgb.W*rgb.H*3)}
		}
		return rgb, nil
	}
	return toRGB(img)
}

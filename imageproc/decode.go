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

func (e *ImageError) Error() string {
	if e.Format != "" {
		return fmt.Sprintf("imageproc: %s image: %v", e.Format, e.Err)
	}
	return fmt.Sprintf("imageproc: image: %v", e.Err)
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
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, &ImageError{Err: errors.New("unknown format (want JPEG, PNG, GIF, WebP, BMP or TIFF)")}
		}
		return nil, &ImageError{Format: format, Err: err}
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, &ImageError{Format: format, Err: fmt.Errorf("empty image (%dx%d)", cfg.Width, cfg.Height)}
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return nil, &ImageError{Format: format, Err: fmt.Errorf("%dx%d is more than the %d-pixel limit: %w", cfg.Width, cfg.Height, maxPixels, ErrTooLarge)}
	}
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, &ImageError{Format: format, Err: err}
	}
	return Orient(ToRGB(img), Orientation(data)), nil
}

// FromImage converts an already decoded image to RGB (no EXIF is available from it).
func FromImage(img image.Image) (*RGB, error) {
	if img == nil {
		return nil, &ImageError{Err: errors.New("nil image")}
	}
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, &ImageError{Err: fmt.Errorf("empty image (%dx%d)", b.Dx(), b.Dy())}
	}
	return ToRGB(img), nil
}

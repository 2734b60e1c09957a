package imageproc

import (
	"context"
	"fmt"
)

// Preprocess turns an RGB image into the encoder's input, pixels [3, H, W] channel-first, as
// BLIP's PIL image processor does: resize to H×W, then x·rescale_factor computed in float64 and
// rounded to float32, then (x - mean) / std in float32.
func (c *PreprocessConfig) Preprocess(img *RGB) ([]float32, error) {
	return c.PreprocessContext(context.Background(), img)
}

// PreprocessContext is Preprocess that stops, with ctx's error, when ctx is done.
func (c *PreprocessConfig) PreprocessContext(ctx context.Context, img *RGB) ([]float32, error) {
	if img.W <= 0 || img.H <= 0 || len(img.Pix) != img.W*img.H*3 {
		return nil, &ImageError{Err: fmt.Errorf("RGB of %dx%d has %d samples", img.W, img.H, len(img.Pix))}
	}
	if c.DoResize {
		var err error
		if img, err = ResizeContext(ctx, img, c.Width, c.Height, c.Resample); err != nil {
			return nil, err
		}
	} else if img.W != c.Width || img.H != c.Height {
		return nil, fmt.Errorf("imageproc: image is %dx%d, the model needs %dx%d and do_resize is off", img.W, img.H, c.Width, c.Height)
	}
	n := c.Width * c.Height
	out := make([]float32, 3*n)
	var lut [3][256]float32
	for ch := 0; ch < 3; ch++ {
		mean, std := float32(c.ImageMean[ch]), float32(c.ImageStd[ch])
		for v := 0; v < 256; v++ {
			x := float32(v)
			if c.DoRescale {
				x = float32(float64(v) * c.RescaleFactor)
			}
			if c.DoNormalize {
				x = (x - mean) / std
			}
			lut[ch][v] = x
		}
	}
	for i := 0; i < n; i++ {
		out[i] = lut[0][img.Pix[3*i]]
		out[n+i] = lut[1][img.Pix[3*i+1]]
		out[2*n+i] = lut[2][img.Pix[3*i+2]]
	}
	return out, nil
}

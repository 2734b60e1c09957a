package imageproc

import (
	"context"
	"math"
)

// This file reproduces Pillow's Image.resize for 8-bit images (libImaging/Resample.c), so that
// pixels match transformers' PIL path bit for bit: coefficients computed in float64 with the
// filter support widened by the scale when downsampling, converted to 22-bit fixed point,
// applied horizontally then vertically with rounding and clipping at each pass.
//
// Every product that is then added to or subtracted from is rounded first by an explicit
// float64 conversion: the Go compiler may fuse a product and a sum into one fused multiply-add
// (it does on arm64), rounding once where Pillow's C (built for x86-64 without FMA) rounds
// twice, and a box window's edge or a weight's last bit then moves. Unfused, arm64 under
// qemu-user gave the box filter's 36x28 -> 50x41 up to 197 levels from Pillow's (a window
// centre of 12.5 x 0.72 rounded to 9, or kept at 8.99999999999999967 inside a fused
// subtraction).

const precisionBits = 32 - 8 - 2

type resampleFilter struct {
	fn      func(x float64) float64
	support float64
}

func filterFor(code int) *resampleFilter {
	switch code {
	case ResampleBicubic:
		return &resampleFilter{bicubic, 2}
	case ResampleBilinear:
		return &resampleFilter{bilinear, 1}
	case ResampleLanczos:
		return &resampleFilter{lanczos, 3}
	case ResampleBox:
		return &resampleFilter{box, 0.5}
	case ResampleHamming:
		return &resampleFilter{hamming, 1}
	}
	return nil
}

func bicubic(x float64) float64 {
	const a = -0.5
	x = math.Abs(x)
	if x < 1 {
		return float64(float64(float64(float64((a+2)*x)-(a+3))*x)*x) + 1
	}
	if x < 2 {
		return (float64(float64(float64((x-5)*x)+8)*x) - 4) * a
	}
	return 0
}

func bilinear(x float64) float64 {
	x = math.Abs(x)
	if x < 1 {
		return 1 - x
	}
	return 0
}

func box(x float64) float64 {
	if x > -0.5 && x <= 0.5 {
		return 1
	}
	return 0
}

func hamming(x float64) float64 {
	x = math.Abs(x)
	if x == 0 {
		return 1
	}
	if x >= 1 {
		return 0
	}
	x *= math.Pi
	return math.Sin(x) / x * (float64(float32(0.54)) + float64(float64(float32(0.46))*math.Cos(x)))
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	x *= math.Pi
	return math.Sin(x) / x
}

func lanczos(x float64) float64 {
	if -3 <= x && x < 3 {
		return sinc(x) * sinc(x/3)
	}
	return 0
}

// coefficients are one pass's fixed-point weights: output index i reads inputs
// [bounds[2i], bounds[2i]+bounds[2i+1]) with weights kk[i*ksize:].
type coefficients struct {
	ksize  int
	bounds []int
	kk     []int32
}

func precompute(inSize, outSize int, f *resampleFilter) coefficients {
	scale := float64(inSize) / float64(outSize)
	filterscale := max(scale, 1)
	support := float64(f.support * filterscale)
	ksize := int(math.Ceil(support))*2 + 1
	c := coefficients{ksize: ksize, bounds: make([]int, 2*outSize), kk: make([]int32, outSize*ksize)}
	w := make([]float64, ksize)
	for xx := 0; xx < outSize; xx++ {
		center := float64((float64(xx) + 0.5) * scale)
		ss := 1 / filterscale
		xmin := int(center - support + 0.5) // truncation toward zero, as C's (int)
		xmin = max(xmin, 0)
		xmax := min(int(center+support+0.5), inSize) - xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			w[x] = f.fn((float64(x+xmin) - center + 0.5) * ss)
			ww += w[x]
		}
		for x := 0; x < xmax; x++ {
			if ww != 0 {
				w[x] /= ww
			}
		}
		k := c.kk[xx*ksize : (xx+1)*ksize]
		for x := 0; x < xmax; x++ {
			if w[x] < 0 {
				k[x] = int32(-0.5 + w[x]*(1<<precisionBits))
			} else {
				k[x] = int32(0.5 + w[x]*(1<<precisionBits))
			}
		}
		c.bounds[2*xx], c.bounds[2*xx+1] = xmin, xmax
	}
	return c
}

func clip8(v int32) uint8 {
	v >>= precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// Resize resamples src to w×h exactly as Pillow's Image.resize((w, h), filter) does on an RGB
// image. An image already w×h is returned as a copy, as Pillow does.
//
// Pillow resamples horizontally first, over the source rows the vertical pass reads, then
// vertically; Resize does the same, bit for bit, unless that order would cost more than
// eight times the other (a very tall, narrow image: 1×N to 384×384 would resample N rows to
// 384 columns first). Then it resamples vertically first, which keeps the work and memory
// proportional to what it reads and writes, and may differ from Pillow by a level where the
// two orders round differently.
func Resize(src *RGB, w, h, filter int) *RGB {
	out, _ := ResizeContext(context.Background(), src, w, h, filter)
	return out
}

// ResizeContext is Resize that stops, with ctx's error, when ctx is done.
func ResizeContext(ctx context.Context, src *RGB, w, h, filter int) (*RGB, error) {
	f := filterFor(filter)
	if f == nil {
		panic("imageproc: unsupported resample filter")
	}
	if src.W == w && src.H == h {
		return &RGB{W: w, H: h, Pix: append([]uint8(nil), src.Pix...)}, nil
	}
	needH, needV := src.W != w, src.H != h
	horiz := precompute(src.W, w, f)
	vert := precompute(src.H, h, f)
	// The source rows the vertical pass reads.
	first, last := 0, src.H
	if needV {
		first, last = vert.bounds[0], vert.bounds[2*h-2]+vert.bounds[2*h-1]
	}
	var costH, costV float64 // multiply-adds of each order
	if needH {
		costH += float64(last-first) * float64(w) * float64(horiz.ksize)
		costV += float64(h) * float64(w) * float64(horiz.ksize)
	}
	if needV {
		costH += float64(h) * float64(w) * float64(vert.ksize)
		costV += float64(h) * float64(src.W) * float64(vert.ksize)
	}
	cur := src
	var err error
	if needH && needV && costH > 8*costV {
		if cur, err = verticalPass(ctx, cur, 0, vert); err != nil {
			return nil, err
		}
		return horizontalPass(ctx, cur, 0, cur.H, w, horiz)
	}
	if needH {
		if cur, err = horizontalPass(ctx, cur, first, last, w, horiz); err != nil {
			return nil, err
		}
	}
	if needV {
		return verticalPass(ctx, cur, first, vert)
	}
	return cur, nil
}

// checkEvery is how many output rows a pass computes between looks at its context.
const checkEvery = 32

// horizontalPass resamples rows [first, last) of src to w columns.
func horizontalPass(ctx context.Context, src *RGB, first, last, w int, horiz coefficients) (*RGB, error) {
	tmp := &RGB{W: w, H: last - first, Pix: make([]uint8, w*(last-first)*3)}
	for y := 0; y < tmp.H; y++ {
		if y%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		in := src.Pix[(y+first)*src.W*3:]
		out := tmp.Pix[y*w*3:]
		for xx := 0; xx < w; xx++ {
			xmin, xmax := horiz.bounds[2*xx], horiz.bounds[2*xx+1]
			k := horiz.kk[xx*horiz.ksize:]
			s0, s1, s2 := int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1))
			for x := 0; x < xmax; x++ {
				p := in[(x+xmin)*3:]
				s0 += int32(p[0]) * k[x]
				s1 += int32(p[1]) * k[x]
				s2 += int32(p[2]) * k[x]
			}
			out[xx*3], out[xx*3+1], out[xx*3+2] = clip8(s0), clip8(s1), clip8(s2)
		}
	}
	return tmp, nil
}

// verticalPass resamples src, whose row 0 is source row first, to the output rows of vert.
func verticalPass(ctx context.Context, src *RGB, first int, vert coefficients) (*RGB, error) {
	w, h := src.W, len(vert.bounds)/2
	out := &RGB{W: w, H: h, Pix: make([]uint8, w*h*3)}
	for yy := 0; yy < h; yy++ {
		if yy%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		ymin, ymax := vert.bounds[2*yy]-first, vert.bounds[2*yy+1]
		k := vert.kk[yy*vert.ksize:]
		row := out.Pix[yy*w*3:]
		for xx := 0; xx < w*3; xx++ {
			s := int32(1 << (precisionBits - 1))
			for y := 0; y < ymax; y++ {
				s += int32(src.Pix[(y+ymin)*w*3+xx]) * k[y]
			}
			row[xx] = clip8(s)
		}
	}
	return out, nil
}

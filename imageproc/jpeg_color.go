package imageproc

import "image"

// Go's image/jpeg leaves chroma subsampled (*image.YCbCr) and image/color upsamples it by
// repetition with its own rounding. Pillow decodes with libjpeg(-turbo), which upsamples 2x
// chroma with a triangle ("fancy") filter and converts with fixed-point tables. Doing the same
// here brings 4:2:0 photos from a 30-40 level worst case down to the IDCT's few levels.

const (
	ycbcrScaleBits = 16
	ycbcrHalf      = 1 << (ycbcrScaleBits - 1)
)

func ycbcrFix(x float64) int32 { return int32(x*(1<<ycbcrScaleBits) + 0.5) }

// ycbcrTables are libjpeg's jdcolor.c build_ycc_rgb_table.
type ycbcrTables struct {
	crR, cbB, crG, cbG [256]int32
}

func newYCbCrTables() *ycbcrTables {
	t := new(ycbcrTables)
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		t.crR[i] = (ycbcrFix(1.40200)*x + ycbcrHalf) >> ycbcrScaleBits
		t.cbB[i] = (ycbcrFix(1.77200)*x + ycbcrHalf) >> ycbcrScaleBits
		t.crG[i] = -ycbcrFix(0.71414) * x
		t.cbG[i] = -ycbcrFix(0.34414)*x + ycbcrHalf
	}
	return t
}

func clampByte(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// ycbcrToRGB converts with libjpeg's upsampling (4:4:4, 4:2:2 and 4:2:0) and colour tables.
func ycbcrToRGB(src *image.YCbCr, out *RGB) {
	w, h := out.W, out.H
	t := newYCbCrTables()
	var hs, vs int // chroma subsampling factors
	switch src.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		hs, vs = 1, 1
	case image.YCbCrSubsampleRatio422:
		hs, vs = 2, 1
	case image.YCbCrSubsampleRatio420:
		hs, vs = 2, 2
	default:
		// Rare ratios (4:4:0, 4:1:1, 4:1:0): Go's own conversion.
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				r, g, b, _ := src.At(src.Rect.Min.X+x, src.Rect.Min.Y+y).RGBA()
				i := (y*w + x) * 3
				out.Pix[i], out.Pix[i+1], out.Pix[i+2] = uint8(r>>8), uint8(g>>8), uint8(b>>8)
			}
		}
		return
	}
	cw, ch := (w+hs-1)/hs, (h+vs-1)/vs
	cb := upsample(src.Cb, src.CStride, cw, ch, hs, vs, w, h)
	cr := upsample(src.Cr, src.CStride, cw, ch, hs, vs, w, h)
	for y := 0; y < h; y++ {
		yrow := src.Y[y*src.YStride:]
		for x := 0; x < w; x++ {
			yy := int32(yrow[x])
			b, r := cb[y*w+x], cr[y*w+x]
			i := (y*w + x) * 3
			out.Pix[i] = clampByte(yy + t.crR[r])
			out.Pix[i+1] = clampByte(yy + (t.cbG[b]+t.crG[r])>>ycbcrScaleBits)
			out.Pix[i+2] = clampByte(yy + t.cbB[b])
		}
	}
}

// upsample expands a cw×ch chroma plane to w×h the way libjpeg's jdsample.c fancy upsamplers
// do (h2v1 and h2v2 triangle filters, edges replicated).
func upsample(plane []uint8, stride, cw, ch, hs, vs, w, h int) []uint8 {
	out := make([]uint8, w*h)
	if hs == 1 && vs == 1 {
		for y := 0; y < h; y++ {
			copy(out[y*w:(y+1)*w], plane[y*stride:])
		}
		return out
	}
	row := make([]int32, 2*cw) // one upsampled row before cropping to w
	for cy := 0; cy < ch; cy++ {
		this := plane[cy*stride:]
		for v := 0; v < vs; v++ {
			oy := cy*vs + v
			if oy >= h {
				break
			}
			if vs == 1 {
				h2v1(row, this, cw)
			} else {
				nb := cy - 1
				if v == 1 {
					nb = cy + 1
				}
				nb = min(max(nb, 0), ch-1)
				h2v2(row, this, plane[nb*stride:], cw)
			}
			for x := 0; x < w; x++ {
				out[oy*w+x] = uint8(row[x])
			}
		}
	}
	return out
}

func h2v1(out []int32, in []uint8, cw int) {
	if cw == 1 {
		out[0], out[1] = int32(in[0]), int32(in[0])
		return
	}
	out[0] = int32(in[0])
	out[1] = (int32(in[0])*3 + int32(in[1]) + 2) >> 2
	for i := 1; i < cw-1; i++ {
		v := int32(in[i]) * 3
		out[2*i] = (v + int32(in[i-1]) + 1) >> 2
		out[2*i+1] = (v + int32(in[i+1]) + 2) >> 2
	}
	n := cw - 1
	out[2*n] = (int32(in[n])*3 + int32(in[n-1]) + 1) >> 2
	out[2*n+1] = int32(in[n])
}

func h2v2(out []int32, this, near []uint8, cw int) {
	sum := func(i int) int32 { return int32(this[i])*3 + int32(near[i]) }
	if cw == 1 {
		s := sum(0)
		out[0], out[1] = (s*4+8)>>4, (s*4+7)>>4
		return
	}
	cur, next := sum(0), sum(1)
	out[0] = (cur*4 + 8) >> 4
	out[1] = (cur*3 + next + 7) >> 4
	last := cur
	for i := 1; i < cw-1; i++ {
		last, cur, next = cur, next, sum(i+1)
		out[2*i] = (cur*3 + last + 8) >> 4
		out[2*i+1] = (cur*3 + next + 7) >> 4
	}
	n := cw - 1
	last, cur = cur, next
	out[2*n] = (cur*3 + last + 8) >> 4
	out[2*n+1] = (cur*4 + 7) >> 4
}

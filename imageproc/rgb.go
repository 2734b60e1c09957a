package imageproc

import (
	"fmt"
	"image"
	"image/color"
)

// RGB is an 8-bit RGB image with interleaved samples: the channel c of pixel (x, y) is at
// Pix[(y*W+x)*3+c]. It is what Pillow's convert("RGB") produces and what Resize works on.
type RGB struct {
	W, H int
	Pix  []uint8
}

// toRGB converts any image to 8-bit RGB the way Pillow's convert("RGB") does for the formats
// BLIP meets: alpha is dropped (not composited), gray is replicated, 16-bit samples keep their
// high byte, CMYK uses Pillow's formula, palette indices past the palette are black. The one
// deliberate difference: 16-bit gray is scaled to 8 bits (Pillow clips it, turning photos
// black and white). The caller has checked the size; a buffer shorter than the image's bounds
// say is an error.
func toRGB(img image.Image) (*RGB, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if !buffersHold(img, w, h) {
		return nil, &ImageError{Err: fmt.Errorf("%T of %dx%d: its pixel buffer is shorter than its bounds", img, w, h)}
	}
	out := &RGB{W: w, H: h, Pix: make([]uint8, w*h*3)}
	set := func(x, y int, r, g, bl uint8) {
		i := (y*w + x) * 3
		out.Pix[i], out.Pix[i+1], out.Pix[i+2] = r, g, bl
	}
	switch src := img.(type) {
	case *RGB:
		copy(out.Pix, src.Pix)
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride:]
			for x := 0; x < w; x++ {
				set(x, y, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride:]
			for x := 0; x < w; x++ {
				p := row[4*x : 4*x+4]
				if p[3] == 0xff {
					set(x, y, p[0], p[1], p[2])
				} else {
					c := color.NRGBAModel.Convert(color.RGBA{p[0], p[1], p[2], p[3]}).(color.NRGBA)
					set(x, y, c.R, c.G, c.B)
				}
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride:]
			for x := 0; x < w; x++ {
				set(x, y, row[x], row[x], row[x])
			}
		}
	case *image.Gray16:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride:]
			for x := 0; x < w; x++ {
				v := row[2*x] // big-endian: the high byte
				set(x, y, v, v, v)
			}
		}
	case *image.NRGBA64:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride:]
			for x := 0; x < w; x++ {
				set(x, y, row[8*x], row[8*x+2], row[8*x+4])
			}
		}
	case *image.YCbCr:
		ycbcrToRGB(src, out)
	case *image.CMYK:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride:]
			for x := 0; x < w; x++ {
				p := row[4*x : 4*x+4]
				nk := 255 - int(p[3])
				set(x, y, cmyk(p[0], nk), cmyk(p[1], nk), cmyk(p[2], nk))
			}
		}
	case *image.Paletted:
		var pal [256][3]uint8 // indices past the palette stay black
		for i, c := range src.Palette[:min(len(src.Palette), 256)] {
			if c == nil {
				continue
			}
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			pal[i] = [3]uint8{n.R, n.G, n.B}
		}
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride:]
			for x := 0; x < w; x++ {
				c := pal[row[x]]
				set(x, y, c[0], c[1], c[2])
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := img.At(b.Min.X+x, b.Min.Y+y)
				if c == nil {
					return nil, &ImageError{Err: fmt.Errorf("%T has no colour at (%d, %d)", img, b.Min.X+x, b.Min.Y+y)}
				}
				n := color.NRGBA64Model.Convert(c).(color.NRGBA64)
				set(x, y, uint8(n.R>>8), uint8(n.G>>8), uint8(n.B>>8))
			}
		}
	}
	return out, nil
}

// buffersHold reports whether the pixel buffers of the image types toRGB reads directly hold
// every pixel of a w×h image (a caller can build an image.Image whose Pix is too short).
func buffersHold(img image.Image, w, h int) bool {
	rows := func(pix []uint8, stride, bpp int) bool {
		return stride >= w*bpp && len(pix) >= (h-1)*stride+w*bpp
	}
	switch src := img.(type) {
	case *RGB:
		return len(src.Pix) >= w*h*3
	case *image.NRGBA:
		return rows(src.Pix, src.Stride, 4)
	case *image.RGBA:
		return rows(src.Pix, src.Stride, 4)
	case *image.Gray:
		return rows(src.Pix, src.Stride, 1)
	case *image.Gray16:
		return rows(src.Pix, src.Stride, 2)
	case *image.NRGBA64:
		return rows(src.Pix, src.Stride, 8)
	case *image.CMYK:
		return rows(src.Pix, src.Stride, 4)
	case *image.Paletted:
		return rows(src.Pix, src.Stride, 1)
	case *image.YCbCr:
		b := src.Rect
		last := image.Pt(b.Max.X-1, b.Max.Y-1)
		yi, ci := src.YOffset(last.X, last.Y), src.COffset(last.X, last.Y)
		return src.YStride >= w && yi >= 0 && yi < len(src.Y) && ci >= 0 && ci < len(src.Cb) && ci < len(src.Cr) &&
			src.YOffset(b.Min.X, b.Min.Y) >= 0 && src.COffset(b.Min.X, b.Min.Y) >= 0
	}
	return true
}

// cmyk is Pillow's cmyk2rgb for one channel: nk - c·nk/255 with its MULDIV255 rounding.
func cmyk(c uint8, nk int) uint8 {
	t := int(c)*nk + 128
	return uint8(nk - ((t + (t >> 8)) >> 8))
}

// ColorModel, Bounds and At make RGB an image.Image, so that a decoded image can be handed to
// any API taking one; the pipeline itself reads Pix directly.
func (m *RGB) ColorModel() color.Model { return color.RGBAModel }

// Bounds is (0, 0)-(W, H).
func (m *RGB) Bounds() image.Rectangle { return image.Rect(0, 0, m.W, m.H) }

// At returns the colour of pixel (x, y).
func (m *RGB) At(x, y int) color.Color {
	if x < 0 || y < 0 || x >= m.W || y >= m.H {
		return color.RGBA{}
	}
	i := (y*m.W + x) * 3
	return color.RGBA{m.Pix[i], m.Pix[i+1], m.Pix[i+2], 0xff}
}

package imageproc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/gif"
)

// decodeGIF decodes a GIF's first frame as Pillow does: onto a canvas of the logical screen's
// size (Go's decoder returns the frame alone), filled with the frame's transparent index when
// it has one and with index 0 otherwise, every index mapped through the frame's colour table
// (the local one, else the global one) with its stored colour, transparent or not: Pillow's
// convert("RGB") ignores transparency, and Go's decoder blanks that palette entry.
func decodeGIF(data []byte) (*RGB, error) {
	h, err := readGIFHeader(data)
	if err != nil {
		return nil, &ImageError{Format: "gif", Err: err}
	}
	img, err := gif.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, &ImageError{Format: "gif", Err: err}
	}
	frame, ok := img.(*image.Paletted)
	if !ok {
		return nil, &ImageError{Format: "gif", Err: fmt.Errorf("first frame decoded as %T", img)}
	}
	table := h.local
	if table == nil {
		table = h.global
	}
	var pal [256][3]uint8 // indices past the table stay black
	for i := 0; i < len(table)/3 && i < 256; i++ {
		pal[i] = [3]uint8{table[3*i], table[3*i+1], table[3*i+2]}
	}
	fill := pal[0]
	if h.transparent >= 0 {
		fill = pal[h.transparent]
	}
	out := &RGB{W: h.width, H: h.height, Pix: make([]uint8, h.width*h.height*3)}
	for i := 0; i < len(out.Pix); i += 3 {
		out.Pix[i], out.Pix[i+1], out.Pix[i+2] = fill[0], fill[1], fill[2]
	}
	r := frame.Rect.Intersect(image.Rect(0, 0, h.width, h.height))
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := frame.Pix[frame.PixOffset(r.Min.X, y):]
		dst := out.Pix[(y*h.width+r.Min.X)*3:]
		for x := 0; x < r.Dx(); x++ {
			c := pal[row[x]]
			dst[3*x], dst[3*x+1], dst[3*x+2] = c[0], c[1], c[2]
		}
	}
	return out, nil
}

// gifHeader is what decodeGIF needs of a GIF beyond Go's decoder: the logical screen, the
// colour tables as stored, and the first frame's transparent index (-1: none).
type gifHeader struct {
	width, height int
	global, local []byte
	transparent   int
}

// readGIFHeader walks a GIF's blocks up to its first image descriptor.
func readGIFHeader(data []byte) (*gifHeader, error) {
	errShort := errors.New("truncated before the first image")
	if len(data) < 13 || (string(data[:6]) != "GIF87a" && string(data[:6]) != "GIF89a") {
		return nil, errors.New("not a GIF header")
	}
	h := &gifHeader{width: int(binary.LittleEndian.Uint16(data[6:])), height: int(binary.LittleEndian.Uint16(data[8:])), transparent: -1}
	p := 13
	table := func(flags byte) ([]byte, error) {
		if flags&0x80 == 0 {
			return nil, nil
		}
		n := 3 << (flags&7 + 1)
		if p+n > len(data) {
			return nil, errShort
		}
		t := data[p : p+n]
		p += n
		return t, nil
	}
	var err error
	if h.global, err = table(data[10]); err != nil {
		return nil, err
	}
	for p < len(data) {
		switch data[p] {
		case 0x21: // extension: label, then sub-blocks
			if p+2 > len(data) {
				return nil, errShort
			}
			label := data[p+1]
			p += 2
			for first := true; ; first = false {
				if p >= len(data) {
					return nil, errShort
				}
				n := int(data[p])
				if p+1+n > len(data) {
					return nil, errShort
				}
				if first && label == 0xf9 && n == 4 { // graphic control: packed, delay, index
					h.transparent = -1
					if data[p+1]&1 != 0 {
						h.transparent = int(data[p+4])
					}
				}
				p += 1 + n
				if n == 0 {
					break
				}
			}
		case 0x2c: // image descriptor
			if p+10 > len(data) {
				return nil, errShort
			}
			flags := data[p+9]
			p += 10
			if h.local, err = table(flags); err != nil {
				return nil, err
			}
			return h, nil
		default:
			return nil, fmt.Errorf("unexpected block 0x%02x before the first image", data[p])
		}
	}
	return nil, errShort
}

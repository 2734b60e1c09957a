package imageproc

import (
	"bytes"
	"encoding/binary"
)

// Orientation reads the EXIF orientation (1-8) of a JPEG, PNG or WebP file, or returns 1 when
// there is none or the metadata is malformed (as Pillow ignores a broken EXIF block).
func Orientation(data []byte) int {
	var tiff []byte
	switch {
	case len(data) > 2 && data[0] == 0xff && data[1] == 0xd8:
		tiff = jpegExif(data)
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		tiff = pngExif(data)
	case len(data) > 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		tiff = webpExif(data)
	}
	return tiffOrientation(tiff)
}

func jpegExif(data []byte) []byte {
	p := 2
	for p+4 <= len(data) {
		if data[p] != 0xff {
			return nil
		}
		marker := data[p+1]
		if marker == 0xff { // fill byte
			p++
			continue
		}
		if marker == 0xd9 || marker == 0xda { // end of image, start of scan: no more metadata
			return nil
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		if n < 2 || p+2+n > len(data) {
			return nil
		}
		seg := data[p+4 : p+2+n]
		if marker == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return seg[6:]
		}
		p += 2 + n
	}
	return nil
}

func pngExif(data []byte) []byte {
	p := 8
	for p+8 <= len(data) {
		n := int(binary.BigEndian.Uint32(data[p:]))
		typ := string(data[p+4 : p+8])
		if n < 0 || p+12+n > len(data) {
			return nil
		}
		if typ == "eXIf" {
			return data[p+8 : p+8+n]
		}
		// Not only before IDAT, as the PNG specification wants it: Pillow's getexif loads
		// the image to find an eXIf chunk after the image data too.
		if typ == "IEND" {
			return nil
		}
		p += 12 + n
	}
	return nil
}

func webpExif(data []byte) []byte {
	p := 12
	for p+8 <= len(data) {
		n := int(binary.LittleEndian.Uint32(data[p+4:]))
		if n < 0 || p+8+n > len(data) {
			return nil
		}
		if string(data[p:p+4]) == "EXIF" {
			return bytes.TrimPrefix(data[p+8:p+8+n], []byte("Exif\x00\x00"))
		}
		p += 8 + n + n&1
	}
	return nil
}

// tiffOrientation finds tag 0x0112 in IFD0 of a TIFF-structured EXIF block.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(t[2:]) != 42 {
		return 1
	}
	ifd := int64(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > int64(len(t)) {
		return 1
	}
	count := int64(bo.Uint16(t[ifd:]))
	for i := int64(0); i < count; i++ {
		e := ifd + 2 + 12*i
		if e+12 > int64(len(t)) {
			return 1
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		return orientationValue(t, bo, e)
	}
	return 1
}

// orientationValue reads the orientation entry at t[e:] as Pillow's exif_transpose takes it
// (checked against Debian's Pillow 9.4): the first value of any integer type but BYTE (which
// Pillow reads as bytes, matching no orientation), SHORT as the standard has it, also LONG,
// SBYTE, SSHORT and SLONG, inline or, when the values do not fit the entry's 4 bytes, where
// the entry points; 1 when that is not one of 1-8.
func orientationValue(t []byte, bo binary.ByteOrder, e int64) int {
	var size int64
	var read func(b []byte) int64
	switch bo.Uint16(t[e+2:]) {
	case 3: // SHORT
		size, read = 2, func(b []byte) int64 { return int64(bo.Uint16(b)) }
	case 4: // LONG
		size, read = 4, func(b []byte) int64 { return int64(bo.Uint32(b)) }
	case 6: // SBYTE
		size, read = 1, func(b []byte) int64 { return int64(int8(b[0])) }
	case 8: // SSHORT
		size, read = 2, func(b []byte) int64 { return int64(int16(bo.Uint16(b))) }
	case 9: // SLONG
		size, read = 4, func(b []byte) int64 { return int64(int32(bo.Uint32(b))) }
	default:
		return 1
	}
	count := int64(bo.Uint32(t[e+4:]))
	if count == 0 {
		return 1
	}
	at := e + 8
	if size*count > 4 {
		if at = int64(bo.Uint32(t[e+8:])); at+size > int64(len(t)) {
			return 1
		}
	}
	if v := read(t[at:]); v >= 1 && v <= 8 {
		return int(v)
	}
	return 1
}

// Orient applies an EXIF orientation the way PIL.ImageOps.exif_transpose does.
func Orient(src *RGB, orientation int) *RGB {
	if orientation < 2 || orientation > 8 {
		return src
	}
	w, h := src.W, src.H
	ow, oh := w, h
	if orientation >= 5 {
		ow, oh = h, w
	}
	out := &RGB{W: ow, H: oh, Pix: make([]uint8, len(src.Pix))}
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			var sx, sy int
			switch orientation {
			case 2: // mirror left-right
				sx, sy = w-1-x, y
			case 3: // rotate 180
				sx, sy = w-1-x, h-1-y
			case 4: // mirror top-bottom
				sx, sy = x, h-1-y
			case 5: // transpose
				sx, sy = y, x
			case 6: // rotate 90 clockwise
				sx, sy = y, h-1-x
			case 7: // transverse
				sx, sy = w-1-y, h-1-x
			case 8: // rotate 90 counter-clockwise
				sx, sy = w-1-y, x
			}
			copy(out.Pix[(y*ow+x)*3:(y*ow+x)*3+3], src.Pix[(sy*w+sx)*3:])
		}
	}
	return out
}

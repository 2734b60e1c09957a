package imageproc

import (
	"bytes"
	"compress/lzw"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/png"
	"runtime"
	"strings"
	"testing"
)

// exifTIFF builds an EXIF block (TIFF-structured, no "Exif" prefix) whose IFD0 holds one
// orientation entry of the given type and count, its 4-byte value field, and tail after the
// IFD (for values the field points to, from offset 26).
func exifTIFF(order binary.ByteOrder, typ uint16, count uint32, field [4]byte, tail []byte) []byte {
	var tiff bytes.Buffer
	if order == binary.LittleEndian {
		tiff.WriteString("II")
	} else {
		tiff.WriteString("MM")
	}
	binary.Write(&tiff, order, uint16(42))
	binary.Write(&tiff, order, uint32(8))
	binary.Write(&tiff, order, uint16(1))             // one entry
	binary.Write(&tiff, order, []uint16{0x0112, typ}) // orientation
	binary.Write(&tiff, order, count)
	tiff.Write(field[:])
	binary.Write(&tiff, order, uint32(0)) // next IFD
	return append(tiff.Bytes(), tail...)
}

// jpegWith builds a minimal byte stream with an APP1 EXIF segment holding tiff, after fill
// bytes (0xff) before its marker; only Orientation reads it (the pixels come from elsewhere).
func jpegWith(tiff []byte, fill int) []byte {
	seg := append([]byte("Exif\x00\x00"), tiff...)
	out := append([]byte{0xff, 0xd8}, bytes.Repeat([]byte{0xff}, fill)...)
	out = append(out, 0xff, 0xe1, byte((len(seg)+2)>>8), byte(len(seg)+2))
	return append(append(out, seg...), 0xff, 0xd9)
}

// exifJPEG is jpegWith an orientation as the standard stores it: one SHORT.
func exifJPEG(order binary.ByteOrder, orientation uint16) []byte {
	var field [4]byte
	order.PutUint16(field[:], orientation)
	return jpegWith(exifTIFF(order, 3, 1, field, nil), 0)
}

func TestOrientation(t *testing.T) {
	for o := uint16(1); o <= 8; o++ {
		for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			if got := Orientation(exifJPEG(bo, o)); got != int(o) {
				t.Errorf("orientation %d (%v) read as %d", o, bo, got)
			}
		}
	}
	for _, bad := range [][]byte{nil, {0xff, 0xd8}, exifJPEG(binary.LittleEndian, 9), exifJPEG(binary.BigEndian, 0)[:20]} {
		if got := Orientation(bad); got != 1 {
			t.Errorf("malformed EXIF gave orientation %d", got)
		}
	}
}

// TestOrientationAsPillow: what Pillow's exif_transpose reads beyond one SHORT in a JPEG's
// APP1, each case checked against Debian's Pillow 9.4 with files built the same way: the first
// value of any integer type but BYTE, inline or where the entry points, after fill bytes
// before the marker; and a PNG's eXIf chunk after the image data, not after IEND.
func TestOrientationAsPillow(t *testing.T) {
	field := func(bo binary.ByteOrder, size int, v int64) [4]byte {
		var f [4]byte
		switch size {
		case 1:
			f[0] = byte(v)
		case 2:
			bo.PutUint16(f[:], uint16(v))
		case 4:
			bo.PutUint32(f[:], uint32(v))
		}
		return f
	}
	for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		threeAt := make([]byte, 6) // SHORT values 3, 6, 6 at offset 26, after the IFD
		bo.PutUint16(threeAt, 3)
		bo.PutUint16(threeAt[2:], 6)
		bo.PutUint16(threeAt[4:], 6)
		var twoShorts [4]byte // 6, 3
		bo.PutUint16(twoShorts[:], 6)
		bo.PutUint16(twoShorts[2:], 3)
		for _, c := range []struct {
			name string
			data []byte
			want int
		}{
			{"LONG", jpegWith(exifTIFF(bo, 4, 1, field(bo, 4, 6), nil), 0), 6},
			{"SBYTE", jpegWith(exifTIFF(bo, 6, 1, field(bo, 1, 6), nil), 0), 6},
			{"SSHORT", jpegWith(exifTIFF(bo, 8, 1, field(bo, 2, 6), nil), 0), 6},
			{"SLONG", jpegWith(exifTIFF(bo, 9, 1, field(bo, 4, 6), nil), 0), 6},
			{"BYTE (bytes to Pillow)", jpegWith(exifTIFF(bo, 1, 1, field(bo, 1, 6), nil), 0), 1},
			{"negative SSHORT", jpegWith(exifTIFF(bo, 8, 1, field(bo, 2, -2), nil), 0), 1},
			{"SHORT count 2, inline", jpegWith(exifTIFF(bo, 3, 2, twoShorts, nil), 0), 6},
			{"SHORT count 3, at an offset", jpegWith(exifTIFF(bo, 3, 3, field(bo, 4, 26), threeAt), 0), 3},
			{"LONG count 2, offset past the end", jpegWith(exifTIFF(bo, 4, 2, field(bo, 4, 1000), nil), 0), 1},
			{"fill bytes before APP1", jpegWith(exifTIFF(bo, 3, 1, field(bo, 2, 6), nil), 3), 6},
		} {
			if got := Orientation(c.data); got != c.want {
				t.Errorf("%s (%v): orientation %d, want %d", c.name, bo, got, c.want)
			}
		}
	}
	chunk := func(typ string, data []byte) []byte { // the CRC is not checked here
		c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
		return append(append(append(c, typ...), data...), 0, 0, 0, 0)
	}
	exif := exifTIFF(binary.BigEndian, 3, 1, field(binary.BigEndian, 2, 6), nil)
	png := func(chunks ...[]byte) []byte {
		return bytes.Join(append([][]byte{[]byte("\x89PNG\r\n\x1a\n")}, chunks...), nil)
	}
	ihdr, idat, iend := chunk("IHDR", make([]byte, 13)), chunk("IDAT", []byte{1, 2, 3}), chunk("IEND", nil)
	for _, c := range []struct {
		name string
		data []byte
		want int
	}{
		{"eXIf before IDAT", png(ihdr, chunk("eXIf", exif), idat, iend), 6},
		{"eXIf after IDAT", png(ihdr, idat, chunk("eXIf", exif), iend), 6},
		{"eXIf after IEND", png(ihdr, idat, iend, chunk("eXIf", exif)), 1},
		{"eXIf cut short", png(ihdr, chunk("eXIf", exif))[:8+25+8+len(exif)-1], 1},
	} {
		if got := Orientation(c.data); got != c.want {
			t.Errorf("PNG, %s: orientation %d, want %d", c.name, got, c.want)
		}
	}
	// WebP, laid out as Pillow 9.4 writes a lossless image with exif= (VP8X, an odd-length
	// VP8L chunk and its pad byte, then EXIF holding the TIFF block; Pillow reads 6 from it).
	riffChunk := func(typ string, data []byte) []byte {
		c := binary.LittleEndian.AppendUint32([]byte(typ), uint32(len(data)))
		c = append(c, data...)
		if len(data)%2 == 1 {
			c = append(c, 0)
		}
		return c
	}
	webp := func(chunks ...[]byte) []byte {
		body := bytes.Join(append([][]byte{[]byte("WEBP")}, chunks...), nil)
		return append(binary.LittleEndian.AppendUint32([]byte("RIFF"), uint32(len(body))), body...)
	}
	vp8x, vp8l := riffChunk("VP8X", make([]byte, 10)), riffChunk("VP8L", make([]byte, 17))
	for _, c := range []struct {
		name string
		data []byte
		want int
	}{
		{"EXIF after an odd-length chunk", webp(vp8x, vp8l, riffChunk("EXIF", exif)), 6},
		{"EXIF with the Exif prefix", webp(vp8x, riffChunk("EXIF", append([]byte("Exif\x00\x00"), exif...))), 6},
		{"no EXIF", webp(vp8x, vp8l), 1},
		{"EXIF cut short", webp(vp8x, riffChunk("EXIF", exif))[:12+18+8+len(exif)-1], 1},
	} {
		if got := Orientation(c.data); got != c.want {
			t.Errorf("WebP, %s: orientation %d, want %d", c.name, got, c.want)
		}
	}
	// A JPEG whose APP1 runs past the end of the file, or declares a length under 2, has none.
	app1 := jpegWith(exif, 0)
	// Most JPEGs open with a JFIF APP0 segment; the EXIF APP1 after it is the one read.
	app0 := append([]byte{0xff, 0xd8, 0xff, 0xe0, 0, 16}, "JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"...)
	if got := Orientation(append(app0, app1[2:]...)); got != 6 {
		t.Errorf("JPEG, APP1 after a JFIF APP0: orientation %d, want 6", got)
	}
	// An APP1 holding XMP, not EXIF, is passed over.
	xmpID := "http://ns.adobe.com/xap/1.0/\x00<x/>"
	xmp := append([]byte{0xff, 0xd8, 0xff, 0xe1, 0, byte(2 + len(xmpID))}, xmpID...)
	if got := Orientation(append(xmp, app1[2:]...)); got != 6 {
		t.Errorf("JPEG, EXIF APP1 after an XMP APP1: orientation %d, want 6", got)
	}
	for name, data := range map[string][]byte{"APP1 cut short": app1[:len(app1)-3], "APP1 length 1": append([]byte{0xff, 0xd8, 0xff, 0xe1, 0, 1}, app1[6:]...)} {
		if got := Orientation(data); got != 1 {
			t.Errorf("JPEG, %s: orientation %d, want 1", name, got)
		}
	}
}

// TestOrient checks each orientation on a 3x2 image against where PIL's exif_transpose
// puts the top-left source pixel and the output size.
func TestOrient(t *testing.T) {
	src := &RGB{W: 3, H: 2, Pix: make([]uint8, 18)}
	for i := 0; i < 6; i++ {
		src.Pix[3*i] = uint8(i + 1) // pixel (x, y) holds 1 + y*3 + x
	}
	want := map[int][]uint8{ // the first channel of the output, row-major
		1: {1, 2, 3, 4, 5, 6},
		2: {3, 2, 1, 6, 5, 4},
		3: {6, 5, 4, 3, 2, 1},
		4: {4, 5, 6, 1, 2, 3},
		5: {1, 4, 2, 5, 3, 6},
		6: {4, 1, 5, 2, 6, 3},
		7: {6, 3, 5, 2, 4, 1},
		8: {3, 6, 2, 5, 1, 4},
	}
	for o, w := range want {
		out := Orient(src, o)
		var got []uint8
		for i := 0; i < out.W*out.H; i++ {
			got = append(got, out.Pix[3*i])
		}
		if !bytes.Equal(got, w) {
			t.Errorf("orientation %d: %v, want %v", o, got, w)
		}
		if o >= 5 && (out.W != 2 || out.H != 3) {
			t.Errorf("orientation %d: %dx%d, want 2x3", o, out.W, out.H)
		}
	}
}

func TestDecodeLimits(t *testing.T) {
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 300, 200)))
	if _, err := DecodeBytes(buf.Bytes(), 100*100); err == nil || !strings.Contains(err.Error(), "300x200 is more than the 10000-pixel limit") {
		t.Errorf("error %v", err)
	}
	if _, err := DecodeBytes(buf.Bytes(), 0); err != nil {
		t.Error(err)
	}
	// Each limit itself is allowed: exactly maxPixels pixels, a side of exactly MaxSide.
	if _, err := DecodeBytes(buf.Bytes(), 300*200); err != nil {
		t.Errorf("300x200 within a 60000-pixel limit: %v", err)
	}
	for _, c := range []struct {
		w, h int
		ok   bool
	}{{MaxSide, 1, true}, {1, MaxSide, true}, {MaxSide + 1, 1, false}, {1, MaxSide + 1, false}, {0, 5, false}} {
		if err := checkSize(c.w, c.h, 0); (err == nil) != c.ok {
			t.Errorf("%dx%d: %v", c.w, c.h, err)
		}
	}
	// A format-less error is its cause's words; a recognised format's says which.
	if _, err := DecodeBytes(nil, 0); err == nil || err.Error() != "empty file" {
		t.Errorf("empty input: %v, want %q", err, "empty file")
	}
	if _, err := DecodeBytes(buf.Bytes(), 100*100); err == nil || !strings.HasPrefix(err.Error(), "png image: ") {
		t.Errorf("a PNG past the limit: %v, want a png image: error", err)
	}
	for _, bad := range []string{"", "hello", "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"} {
		if _, err := DecodeBytes([]byte(bad), 0); !errors.Is(err, ErrImage) {
			t.Errorf("decode %q: %v", bad, err)
		}
	}
}

func TestToRGBConversions(t *testing.T) {
	n := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	n.Set(0, 0, color.NRGBA{10, 20, 30, 0}) // fully transparent: alpha is dropped, not composited
	if got := mustRGB(t, n).Pix; !bytes.Equal(got, []byte{10, 20, 30}) {
		t.Errorf("NRGBA: %v", got)
	}
	g := image.NewGray16(image.Rect(0, 0, 1, 1))
	g.SetGray16(0, 0, color.Gray16{Y: 200 * 257})
	if got := mustRGB(t, g).Pix; !bytes.Equal(got, []byte{200, 200, 200}) {
		t.Errorf("Gray16 is scaled, not clipped: %v", got)
	}
	c := image.NewCMYK(image.Rect(0, 0, 1, 1))
	c.SetCMYK(0, 0, color.CMYK{0, 255, 128, 0})
	if got := mustRGB(t, c).Pix; !bytes.Equal(got, []byte{255, 0, 127}) {
		t.Errorf("CMYK: %v", got)
	}
}

func TestResizeOddSizes(t *testing.T) {
	for _, sz := range [][4]int{{1, 1, 384, 384}, {1200, 1, 384, 384}, {1, 900, 7, 3}, {5, 5, 5, 5}, {384, 2, 384, 384}} {
		src := &RGB{W: sz[0], H: sz[1], Pix: make([]uint8, sz[0]*sz[1]*3)}
		for i := range src.Pix {
			src.Pix[i] = uint8(i * 7)
		}
		out := Resize(src, sz[2], sz[3], ResampleBicubic)
		if out.W != sz[2] || out.H != sz[3] || len(out.Pix) != sz[2]*sz[3]*3 {
			t.Errorf("%v: got %dx%d", sz, out.W, out.H)
		}
	}
	// A constant image stays constant through the filter's normalised weights.
	src := &RGB{W: 13, H: 9, Pix: bytes.Repeat([]byte{77}, 13*9*3)}
	for _, f := range []int{ResampleBicubic, ResampleBilinear, ResampleLanczos, ResampleBox, ResampleHamming} {
		if out := Resize(src, 31, 4, f); !bytes.Equal(out.Pix, bytes.Repeat([]byte{77}, 31*4*3)) {
			t.Errorf("filter %d changes a constant image", f)
		}
	}
}

func TestParsePreprocessConfig(t *testing.T) {
	for _, c := range []struct {
		json string
		w, h int
		err  string
	}{
		{`{}`, 384, 384, ""},
		{`{"size": 224}`, 224, 224, ""},
		{`{"size": {"height": 200, "width": 300}}`, 300, 200, ""},
		{`{"size": {"shortest_edge": 224}}`, 0, 0, "want an int"},
		{`{"resample": 0}`, 0, 0, "resample 0"},
		{`{"image_std": [1, 0, 1]}`, 0, 0, "zero"},
		{`{"size": "big"}`, 0, 0, "want an int"},
	} {
		cfg, err := ParsePreprocessConfig([]byte(c.json))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.json, err, c.err)
			}
			continue
		}
		if err != nil || cfg.Width != c.w || cfg.Height != c.h {
			t.Errorf("%s: %dx%d %v", c.json, cfg.Width, cfg.Height, err)
		}
	}
}

func FuzzOrientation(f *testing.F) {
	f.Add(exifJPEG(binary.LittleEndian, 6))
	f.Add(exifJPEG(binary.BigEndian, 3))
	f.Add([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x04eXIfMM\x00*"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WEBPEXIF\x08\x00\x00\x00II*\x00\x08\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if o := Orientation(data); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
	})
}

// FuzzDecode: no input makes the decoder panic or hang, and what decodes has the size it
// claims.
// FuzzDecode decodes and preprocesses arbitrary bytes with a realistic pixel limit: an image
// or an error, never a panic, and what decodes resizes to the model's input.
func FuzzDecode(f *testing.F) {
	var buf bytes.Buffer
	png.Encode(&buf, image.NewNRGBA(image.Rect(0, 0, 3, 2)))
	f.Add(buf.Bytes())
	buf.Reset()
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 3000))) // tall and narrow
	f.Add(buf.Bytes())
	f.Add(exifJPEG(binary.LittleEndian, 6))
	f.Add(gifBytes(f, []byte{1, 1, 1, 1, 1, 2, 2, 1, 1, 3, 3, 1}, 3))
	cfg := DefaultPreprocessConfig()
	cfg.Width, cfg.Height = 64, 48
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := DecodeBytes(data, 1<<20)
		if err != nil {
			return
		}
		if len(img.Pix) != img.W*img.H*3 {
			t.Fatalf("%dx%d image with %d samples", img.W, img.H, len(img.Pix))
		}
		if px, err := cfg.Preprocess(img); err != nil || len(px) != 3*64*48 {
			t.Fatalf("%dx%d image: %d values, %v", img.W, img.H, len(px), err)
		}
	})
}

func mustRGB(t *testing.T, img image.Image) *RGB {
	t.Helper()
	rgb, err := toRGB(img)
	if err != nil {
		t.Fatal(err)
	}
	return rgb
}

// TestHostileImages: every image.Image a caller can build gives pixels or an error, never a
// panic; sizes beyond the limits are refused.
func TestHostileImages(t *testing.T) {
	pal := make(color.Palette, 300) // more colours than an index can reach
	for i := range pal {
		pal[i] = color.Gray{uint8(i)}
	}
	many := image.NewPaletted(image.Rect(0, 0, 2, 1), pal)
	many.Pix[1] = 255
	few := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.White})
	few.Pix[1] = 7 // past the palette: black
	short := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	short.Pix = short.Pix[:10]
	for _, c := range []struct {
		name string
		img  image.Image
		want []byte // nil: an error
	}{
		{"uniform (nearly infinite bounds)", image.NewUniform(color.White), nil},
		{"300-colour palette", many, []byte{0, 0, 0, 255, 255, 255}},
		{"index past the palette", few, []byte{255, 255, 255, 0, 0, 0}},
		{"RGB with a short Pix", &RGB{W: 4, H: 4, Pix: make([]uint8, 5)}, nil},
		{"NRGBA with a short Pix", short, nil},
		{"empty", image.NewRGBA(image.Rect(0, 0, 0, 5)), nil},
		{"too wide", image.NewGray(image.Rect(0, 0, MaxSide+1, 1)), nil},
	} {
		got, err := FromImage(c.img, 1000)
		switch {
		case c.want == nil && err == nil:
			t.Errorf("%s: no error", c.name)
		case c.want == nil && !errors.Is(err, ErrImage):
			t.Errorf("%s: error %v does not wrap ErrImage", c.name, err)
		case c.want != nil && (err != nil || !bytes.Equal(got.Pix, c.want)):
			t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
		}
	}
}

// TestTallImage: a 1×60000 image resizes to 384×384 in work and memory proportional to what it
// reads and writes (Pillow's horizontal-first order would resample 60000 rows to 384 columns:
// 69 MB), and a cancelled context stops it; a side past MaxSide is refused from the header.
func TestTallImage(t *testing.T) {
	tall := &RGB{W: 1, H: 60000, Pix: make([]uint8, 60000*3)}
	for i := range tall.Pix {
		tall.Pix[i] = uint8(i / 3 % 251)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out, err := ResizeContext(context.Background(), tall, 384, 384, ResampleBicubic)
	runtime.ReadMemStats(&after)
	if err != nil || out.W != 384 || out.H != 384 {
		t.Fatalf("%v %v", out, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("resizing 1x60000 allocated %d MB", alloc>>20)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ResizeContext(ctx, tall, 384, 384, ResampleBicubic); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled resize: %v", err)
	}
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, MaxSide+1)))
	if _, err := DecodeBytes(buf.Bytes(), 0); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("1x%d PNG: %v", MaxSide+1, err)
	}
}

// gifBytes hand-writes a GIF: an 8×6 screen with a 4-colour global table, a first frame of
// 4×3 at (2, 1) of the given indices, with transparent index trans (-1: none).
func gifBytes(t testing.TB, indices []byte, trans int) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("GIF89a")
	b.Write([]byte{8, 0, 6, 0, 0x81, 0, 0})                            // screen 8×6, global table of 4
	b.Write([]byte{200, 10, 10, 10, 200, 10, 10, 10, 200, 90, 80, 70}) // red, green, blue, and a colour stored for index 3
	if trans >= 0 {
		b.Write([]byte{0x21, 0xf9, 4, 1, 0, 0, byte(trans), 0})
	}
	b.Write([]byte{0x2c, 2, 0, 1, 0, 4, 0, 3, 0, 0, 2}) // frame 4×3 at (2, 1), LZW minimum code size 2
	var z bytes.Buffer
	w := lzw.NewWriter(&z, lzw.LSB, 2)
	w.Write(indices)
	w.Close()
	b.WriteByte(byte(z.Len()))
	b.Write(z.Bytes())
	b.Write([]byte{0, 0x3b})
	return b.Bytes()
}

// TestGIFCanvas: a first frame smaller than the screen lies on a screen-sized canvas filled
// as Pillow fills it (index 0, or the transparent index), and the transparent index keeps
// its stored colour (Pillow's convert("RGB") ignores transparency).
func TestGIFCanvas(t *testing.T) {
	frame := []byte{1, 1, 1, 1, 1, 2, 2, 1, 1, 3, 3, 1}
	for _, c := range []struct {
		trans int
		fill  [3]uint8
	}{{-1, [3]uint8{200, 10, 10}}, {3, [3]uint8{90, 80, 70}}} {
		img, err := DecodeBytes(gifBytes(t, frame, c.trans), 0)
		if err != nil {
			t.Fatal(err)
		}
		if img.W != 8 || img.H != 6 {
			t.Fatalf("transparent %d: %dx%d, want the 8x6 screen", c.trans, img.W, img.H)
		}
		px := func(x, y int) [3]uint8 { i := (y*8 + x) * 3; return [3]uint8{img.Pix[i], img.Pix[i+1], img.Pix[i+2]} }
		if px(0, 0) != c.fill || px(7, 5) != c.fill {
			t.Errorf("transparent %d: outside the frame %v, want %v", c.trans, px(0, 0), c.fill)
		}
		if px(2, 1) != [3]uint8{10, 200, 10} || px(3, 2) != [3]uint8{10, 10, 200} || px(3, 3) != [3]uint8{90, 80, 70} {
			t.Errorf("transparent %d: frame pixels %v %v %v", c.trans, px(2, 1), px(3, 2), px(3, 3))
		}
	}
	// A graphic control block whose transparency flag is clear: its index is no transparency,
	// and the canvas is filled with index 0.
	data := gifBytes(t, frame, 3)
	gce := bytes.Index(data, []byte{0x21, 0xf9, 4, 1})
	data[gce+3] = 0
	img, err := DecodeBytes(data, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := [3]uint8(img.Pix[:3]); got != [3]uint8{200, 10, 10} {
		t.Errorf("transparency flag clear: outside the frame %v, want index 0's %v", got, [3]uint8{200, 10, 10})
	}
	// A GIF cut inside its 13-byte header is refused as a GIF, not read past its end.
	for n := 6; n < 13; n++ {
		if _, err := DecodeBytes(gifBytes(t, frame, -1)[:n], 0); err == nil || !strings.Contains(err.Error(), "gif") {
			t.Errorf("a GIF of its first %d bytes: %v", n, err)
		}
	}
}

// TestRGBImage: RGB is an image.Image: its pixels through At (opaque), transparent black
// outside its bounds, and FromImage of it gives it back.
func TestRGBImage(t *testing.T) {
	m := &RGB{W: 2, H: 3, Pix: []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}}
	var img image.Image = m
	if img.ColorModel() != color.RGBAModel || img.Bounds() != image.Rect(0, 0, 2, 3) {
		t.Fatalf("model %v, bounds %v", img.ColorModel(), img.Bounds())
	}
	if got := img.At(1, 2); got != (color.RGBA{16, 17, 18, 0xff}) {
		t.Errorf("At(1, 2) = %v", got)
	}
	if got := img.At(0, 0); got != (color.RGBA{1, 2, 3, 0xff}) {
		t.Errorf("At(0, 0) = %v", got)
	}
	for _, p := range [][2]int{{-1, 0}, {0, -1}, {2, 0}, {0, 3}} {
		if got := img.At(p[0], p[1]); got != (color.RGBA{}) {
			t.Errorf("At%v outside the image = %v, want transparent black", p, got)
		}
	}
	back, err := FromImage(img, 0)
	if err != nil || back.W != 2 || back.H != 3 || !bytes.Equal(back.Pix, m.Pix) {
		t.Errorf("FromImage of an RGB: %+v, %v", back, err)
	}
}

package safetensors_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	. "github.com/imagesemantics/blipgo/safetensors"
)

func TestWriteReadRoundTrip(t *testing.T) {
	vals := []float32{0, 1, -2.5, 3.140625, 65504, -0.0001220703125}
	var buf bytes.Buffer
	err := Write(&buf, []WriteTensor{
		{Name: "f32", DType: F32, Shape: []int{2, 3}, Values: vals},
		{Name: "f16", DType: F16, Shape: []int{6}, Values: vals},
		{Name: "bf16", DType: BF16, Shape: []int{3, 2}, Values: vals},
		{Name: "filled", DType: F32, Shape: []int{5000}, Fill: func(dst []float32, first int) {
			for i := range dst {
				dst[i] = float32(first + i)
			}
		}},
	}, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(writeFile(t, buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Metadata()["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata())
	}
	for _, name := range []string{"f32", "f16", "bf16"} {
		got, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			tol := 0.0
			if name == "bf16" {
				tol = math.Abs(float64(v)) / 128
			}
			if math.Abs(float64(got[i]-v)) > tol {
				t.Errorf("%s[%d] = %v, want %v", name, i, got[i], v)
			}
		}
	}
	got, _ := f.Float32("filled")
	if got[4999] != 4999 || got[4096] != 4096 {
		t.Errorf("filled tensor wrong at chunk borders: %v %v", got[4096], got[4999])
	}
	if info, _ := f.Info("bf16"); info.DType != BF16 || info.Numel() != 6 {
		t.Errorf("info %+v", info)
	}
}

// fileWith builds a file from a header text and a data section of n bytes.
func fileWith(js string, n int) []byte {
	b := make([]byte, 8, 8+len(js)+n)
	binary.LittleEndian.PutUint64(b, uint64(len(js)))
	return append(append(b, js...), make([]byte, n)...)
}

func TestMalformed(t *testing.T) {
	good := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	for _, c := range []struct {
		name   string
		file   []byte
		tensor string // the tensor the error must name, if any
		msg    string
	}{
		{"empty", nil, "", "shorter than the 8-byte header length"},
		{"header length alone", fileWith("", 0), "", "not valid JSON"},
		{"huge header length", []byte{0, 0, 0, 0, 0, 0, 0, 1, '{', '}'}, "", "exceeds"},
		{"truncated header", fileWith(good, 8)[:20], "", "runs past the end"},
		// A length past the end by less than the 8 bytes of the length itself.
		{"header length 4 bytes long", func() []byte {
			f := fileWith(good, 0)
			binary.LittleEndian.PutUint64(f, uint64(len(good)+4))
			return f
		}(), "", "runs past the end"},
		{"not json", fileWith(`{"a":`, 0), "", "not valid JSON"},
		{"not an object", fileWith(`[1,2]`, 0), "", "not a JSON object"},
		{"unknown dtype", fileWith(`{"a":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}}`, 8), "a", "unknown dtype"},
		{"unknown field", fileWith(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, 8), "a", "unknown field"},
		{"size mismatch", fileWith(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8), "a", "needs 3×4 bytes"},
		{"negative dim", fileWith(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, 8), "a", "negative dimension"},
		{"overflow", fileWith(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, 8), "a", "overflows"},
		{"past the end", fileWith(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, 8), "a", "outside the 8-byte data section"},
		{"reversed", fileWith(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, 8), "a", "outside"},
		{"overlap", fileWith(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "b", "overlaps"},
		{"gap", fileWith(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "a", "gap"},
		{"uncovered tail", fileWith(good, 12), "", "cover 8 bytes of a 12-byte data section"},
		{"duplicate", fileWith(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "a", "appears twice"},
		{"bad metadata", fileWith(`{"__metadata__":{"k":1}}`, 0), "", "__metadata__"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, c.file)
			_, err := Open(path)
			if err == nil {
				t.Fatal("no error")
			}
			var e *Error
			if !errors.As(err, &e) || e.File != path || e.Tensor != c.tensor {
				t.Errorf("error %#v does not name file %s and tensor %q", err, path, c.tensor)
			}
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q: want ErrFormat mentioning %q", err, c.msg)
			}
		})
	}
}

// FuzzParseHeader: the parser never panics, and whatever it accepts lies inside the file.
func FuzzParseHeader(f *testing.F) {
	f.Add(fileWith(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8))
	f.Add(fileWith(`{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[0,4]}}`, 4))
	f.Add(fileWith(`{"a":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}`, 8))
	f.Fuzz(func(t *testing.T, file []byte) {
		tensors, dataAt, err := ParseHeader("fuzz", file)
		if err != nil {
			return
		}
		for name, ti := range tensors {
			if ti.Begin < 0 || ti.End < ti.Begin || dataAt+ti.End > int64(len(file)) {
				t.Fatalf("%s: span [%d,%d) outside a %d-byte file", name, ti.Begin, ti.End, len(file))
			}
			if int64(ti.Numel()*ti.DType.Size()) != ti.End-ti.Begin {
				t.Fatalf("%s: size mismatch accepted", name)
			}
		}
	})
}

// TestZeroSizeTensors: a tensor with a zero dimension takes no bytes ([k, k] offsets) and is
// read as an empty tensor of its shape, beside others.
func TestZeroSizeTensors(t *testing.T) {
	path := writeFile(t, fileWith(`{"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[3,0],"data_offsets":[8,8]}}`, 8))
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, shape := range map[string][]int{"e": {0}, "z": {3, 0}, "a": {2}} {
		info, ok := f.Info(name)
		if !ok || !slices.Equal(info.Shape, shape) {
			t.Errorf("%s: %+v, want shape %v", name, info, shape)
			continue
		}
		numel := 1
		for _, d := range shape {
			numel *= d
		}
		if v, err := f.Float32(name); err != nil || len(v) != numel {
			t.Errorf("%s: %v, %v; want %d values", name, v, err, numel)
		}
	}
}

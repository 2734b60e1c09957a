package safetensors

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/x448/float16"
)

// WriteTensor is one tensor to write: float32 values stored as DType (F32, F16 or BF16).
type WriteTensor struct {
	Name  string
	DType DType
	Shape []int
	// Values holds the elements in row-major order. Fill, when set instead, is called with a
	// buffer of a few thousand elements at a time and the index of the first one, so that huge
	// tensors can be produced without holding them in memory.
	Values []float32
	Fill   func(dst []float32, first int)
}

// Write writes tensors (sorted by name, as the reference writer does) and optional metadata in
// safetensors format. The header is padded with spaces to a multiple of 8 bytes so that every
// tensor is aligned in a mapping.
func Write(w io.Writer, tensors []WriteTensor, metadata map[string]string) error {
	ts := append([]WriteTensor(nil), tensors...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	hdr := map[string]any{}
	if len(metadata) > 0 {
		hdr["__metadata__"] = metadata
	}
	var off int64
	for _, t := range ts {
		size := t.DType.Size()
		if t.DType != F32 && t.DType != F16 && t.DType != BF16 {
			return fmt.Errorf("safetensors: write %q: dtype %s not supported", t.Name, t.DType)
		}
		n := 1
		for _, d := range t.Shape {
			n *= d
		}
		if t.Fill == nil && len(t.Values) != n {
			return fmt.Errorf("safetensors: write %q: %d values for shape %v", t.Name, len(t.Values), t.Shape)
		}
		end := off + int64(n*size)
		hdr[t.Name] = map[string]any{"dtype": t.DType, "shape": append([]int{}, t.Shape...), "data_offsets": []int64{off, end}}
		off = end
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	for (8+len(js))%8 != 0 {
		js = append(js, ' ')
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(js)))
	bw.Write(lenBuf[:])
	bw.Write(js)
	buf := make([]float32, 4096)
	out := make([]byte, 4096*4)
	for _, t := range ts {
		n := 1
		for _, d := range t.Shape {
			n *= d
		}
		for first := 0; first < n; first += len(buf) {
			chunk := buf[:min(len(buf), n-first)]
			if t.Fill != nil {
				t.Fill(chunk, first)
			} else {
				copy(chunk, t.Values[first:])
			}
			b := encode(t.DType, out, chunk)
			if _, err := bw.Write(b); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

func encode(d DType, out []byte, vals []float32) []byte {
	switch d {
	case F32:
		for i, v := range vals {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		}
		return out[:4*len(vals)]
	case F16:
		for i, v := range vals {
			binary.LittleEndian.PutUint16(out[2*i:], float16.Fromfloat32(v).Bits())
		}
	default: // BF16, rounded to nearest even
		for i, v := range vals {
			b := math.Float32bits(v)
			b += 0x7fff + (b>>16)&1
			binary.LittleEndian.PutUint16(out[2*i:], uint16(b>>16))
		}
	}
	return out[:2*len(vals)]
}

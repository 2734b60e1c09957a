package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"sort"
)

// MaxHeaderSize caps the JSON header, as the reference implementation does (100 MB), so that a
// hostile length cannot make a reader allocate without bound.
const MaxHeaderSize = 100_000_000

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int
	// Begin and End are the byte span of the data, relative to the start of the data section.
	Begin, End int64
}

// Numel is the number of elements.
func (t *TensorInfo) Numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// header is a parsed and validated file header.
type header struct {
	tensors  map[string]*TensorInfo
	order    []string // names in data-offset order
	metadata map[string]string
	dataAt   int64 // file offset of the data section
}

type rawEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

// parseHeader validates the header of a file of the given contents (the whole file, mapped).
// name is only used in errors.
func parseHeader(name string, file []byte) (*header, error) {
	if len(file) < 8 {
		return nil, formatError(name, "", "file is %d bytes, shorter than the 8-byte header length", len(file))
	}
	n := binary.LittleEndian.Uint64(file)
	if n > MaxHeaderSize {
		return nil, formatError(name, "", "header length %d exceeds the %d-byte limit", n, MaxHeaderSize)
	}
	if n > uint64(len(file)-8) {
		return nil, formatError(name, "", "header length %d runs past the end of the %d-byte file (truncated?)", n, len(file))
	}
	h := &header{tensors: map[string]*TensorInfo{}, dataAt: 8 + int64(n)}
	dataLen := int64(len(file)) - h.dataAt
	js := file[8:h.dataAt]
	if !json.Valid(js) {
		return nil, formatError(name, "", "header is not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, formatError(name, "", "header is not a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, formatError(name, "", "header: %v", err)
		}
		key := tok.(string) // object keys are always strings in valid JSON
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, formatError(name, key, "%v", err)
		}
		if key == "__metadata__" {
			if h.metadata != nil {
				return nil, formatError(name, "", "__metadata__ appears twice")
			}
			if err := json.Unmarshal(raw, &h.metadata); err != nil {
				return nil, formatError(name, "", "__metadata__ must map strings to strings: %v", err)
			}
			if h.metadata == nil {
				h.metadata = map[string]string{}
			}
			continue
		}
		if _, dup := h.tensors[key]; dup {
			return nil, formatError(name, key, "tensor appears twice in the header")
		}
		info, err := parseEntry(raw, dataLen)
		if err != nil {
			return nil, formatError(name, key, "%v", err)
		}
		info.Name = key
		h.tensors[key] = info
	}
	for name := range h.tensors {
		h.order = append(h.order, name)
	}
	sort.Slice(h.order, func(i, j int) bool {
		a, b := h.tensors[h.order[i]], h.tensors[h.order[j]]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		return a.End < b.End
	})
	var end int64
	for _, tn := range h.order {
		t := h.tensors[tn]
		if t.Begin < end {
			return nil, formatError(name, tn, "data [%d, %d) overlaps the tensor before it (which ends at %d)", t.Begin, t.End, end)
		}
		if t.Begin > end {
			return nil, formatError(name, tn, "data [%d, %d) leaves a gap after byte %d", t.Begin, t.End, end)
		}
		end = t.End
	}
	if end != dataLen {
		return nil, formatError(name, "", "tensors cover %d bytes of a %d-byte data section", end, dataLen)
	}
	return h, nil
}

func parseEntry(raw json.RawMessage, dataLen int64) (*TensorInfo, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var e rawEntry
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("entry: %v", err)
	}
	size := DType(e.DType).Size()
	if size == 0 {
		return nil, unknownDType(e.DType)
	}
	if e.Shape == nil {
		return nil, fmt.Errorf("missing shape")
	}
	if len(e.DataOffsets) != 2 {
		return nil, fmt.Errorf("data_offsets must be [begin, end], got %d numbers", len(e.DataOffsets))
	}
	begin, end := e.DataOffsets[0], e.DataOffsets[1]
	if begin > end || end > uint64(dataLen) {
		return nil, fmt.Errorf("data_offsets [%d, %d] outside the %d-byte data section", begin, end, dataLen)
	}
	numel := uint64(1)
	shape := make([]int, len(e.Shape))
	for i, d := range e.Shape {
		if d < 0 {
			return nil, fmt.Errorf("negative dimension %d in shape %v", d, e.Shape)
		}
		hi, lo := bits.Mul64(numel, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return nil, fmt.Errorf("shape %v overflows", e.Shape)
		}
		numel = lo
		shape[i] = int(d)
	}
	if hi, bytes := bits.Mul64(numel, uint64(size)); hi != 0 || bytes != end-begin {
		return nil, fmt.Errorf("shape %v of %s needs %d×%d bytes but data_offsets span %d", e.Shape, e.DType, numel, size, end-begin)
	}
	return &TensorInfo{DType: DType(e.DType), Shape: shape, Begin: int64(begin), End: int64(end)}, nil
}

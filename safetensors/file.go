package safetensors

import (
	"errors"
	"fmt"
	"os"
	"unsafe"
)

// File is one open safetensors file. Its data stays mapped until Close; slices returned by
// Float32 may alias the mapping, are read-only, and must not be used after Close.
type File struct {
	path  string
	data  []byte // the whole file
	unmap func() error
	hdr   *header
}

// Open maps the file at path and validates its header.
func Open(path string) (*File, error) {
	data, unmap, err := mapFile(path)
	if err != nil {
		return nil, &Error{File: path, Err: err}
	}
	hdr, err := parseHeader(path, data)
	if err != nil {
		unmap()
		return nil, err
	}
	return &File{path: path, data: data, unmap: unmap, hdr: hdr}, nil
}

// Path is the path the file was opened from.
func (f *File) Path() string { return f.path }

// Metadata is the header's __metadata__ map (nil when absent).
func (f *File) Metadata() map[string]string { return f.hdr.metadata }

// Names lists the tensors in data order.
func (f *File) Names() []string { return append([]string(nil), f.hdr.order...) }

// Info describes the named tensor.
func (f *File) Info(name string) (*TensorInfo, bool) {
	t, ok := f.hdr.tensors[name]
	return t, ok
}

// Bytes returns the raw little-endian data of the named tensor, aliasing the mapping.
func (f *File) Bytes(name string) ([]byte, error) {
	t, ok := f.hdr.tensors[name]
	if !ok {
		return nil, &Error{File: f.path, Tensor: name, Err: ErrNotFound}
	}
	return f.data[f.hdr.dataAt+t.Begin : f.hdr.dataAt+t.End], nil
}

// Float32 returns the named tensor's values as float32. F32 data that is 4-byte aligned in the
// mapping is returned without a copy (read-only); other dtypes are converted into a new slice.
func (f *File) Float32(name string) ([]float32, error) {
	raw, err := f.Bytes(name)
	if err != nil {
		return nil, err
	}
	t := f.hdr.tensors[name]
	if t.DType == F32 && hostLittleEndian() && uintptr(unsafe.Pointer(unsafe.SliceData(raw)))%4 == 0 {
		if len(raw) == 0 {
			return []float32{}, nil
		}
		return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(raw))), len(raw)/4), nil
	}
	dst := make([]float32, t.Numel())
	if !decodeFloat32(t.DType, dst, raw) {
		return nil, &Error{File: f.path, Tensor: name, Err: fmt.Errorf("dtype %s cannot be read as float32", t.DType)}
	}
	return dst, nil
}

// Close unmaps the file. Slices obtained from it must not be used afterwards.
func (f *File) Close() error {
	if f.unmap == nil {
		return nil
	}
	err := f.unmap()
	f.unmap, f.data = nil, nil
	return err
}

func hostLittleEndian() bool {
	var x uint16 = 1
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// readAll is the portable fallback of mapFile.
func readAll(path string) ([]byte, func() error, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}

var errTooLarge = errors.New("file too large to map")

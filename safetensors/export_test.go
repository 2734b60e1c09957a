package safetensors

// ParseHeader exposes the header parser to the fuzz test: the tensors it accepted and the file
// offset of the data section.
func ParseHeader(name string, file []byte) (map[string]*TensorInfo, int64, error) {
	h, err := parseHeader(name, file)
	if err != nil {
		return nil, 0, err
	}
	return h.tensors, h.dataAt, nil
}

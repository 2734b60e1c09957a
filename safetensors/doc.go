// Package safetensors reads and writes Hugging Face safetensors checkpoints.
//
// A file is an 8-byte little-endian header length n, n bytes of JSON describing every tensor
// (dtype, shape, byte offsets into the data section), then the data section. Open maps a file
// into memory and validates the whole header before anything is read from it: a header length
// within MaxHeaderSize, well-formed JSON without duplicate names, a known dtype, a shape whose
// size times the dtype size equals the byte span, and spans that lie inside the data section,
// do not overlap and leave no gap (the rules of the reference implementation). Every error
// names the file and, where there is one, the tensor.
//
// OpenCheckpoint opens what a Hugging Face snapshot holds: model.safetensors, or the shards
// listed by model.safetensors.index.json. Tensors of dtype F32, F16, BF16, F64 and I64 read as
// float32; F32 data is returned without a copy when the mapping allows.
package safetensors

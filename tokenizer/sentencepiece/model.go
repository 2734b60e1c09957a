// Package sentencepiece is a pure-Go SentencePiece unigram tokenizer: it reads a model file
// (the protobuf that MarianMT's source.spm and target.spm are), normalises text exactly as
// SentencePiece does (the precompiled character map of nmt_nfkc and the like, dummy prefix,
// extra whitespace, "▁" for spaces), segments it with the unigram model's Viterbi search, and
// turns pieces back into text.
package sentencepiece

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Piece types, as sentencepiece_model.proto numbers them.
const (
	typeNormal      = 1
	typeUnknown     = 2
	typeControl     = 3
	typeUserDefined = 4
	typeUnused      = 5
	typeByte        = 6
)

// piece is one vocabulary entry of the model.
type piece struct {
	text  string
	score float32
	typ   int
}

// Model is a loaded SentencePiece unigram model.
type Model struct {
	pieces   []piece
	index    map[string]int // normal, user-defined and unused pieces by text
	maxLen   int            // the longest piece, in bytes
	unkID    int
	minScore float32
	norm     normalizer
}

// Error says what is wrong with a model file.
type Error struct{ Msg string }

func (e *Error) Error() string { return "sentencepiece: " + e.Msg }

func bad(format string, args ...any) error { return &Error{fmt.Sprintf(format, args...)} }

// maxPieces bounds a model's vocabulary, far beyond any real one (Marian's: 65,001).
const maxPieces = 1 << 22

// Parse reads a SentencePiece model file (ModelProto). Only unigram models are supported.
func Parse(data []byte) (*Model, error) {
	m := &Model{index: map[string]int{}, unkID: -1, norm: normalizer{addDummyPrefix: true, removeExtraSpaces: true, escapeSpaces: true}}
	modelType := 1 // UNIGRAM, the default
	err := walk(data, func(field int, wire int, v uint64, b []byte) error {
		switch field {
		case 1: // pieces
			if wire != 2 {
				return bad("piece: wire type %d", wire)
			}
			if len(m.pieces) >= maxPieces {
				return bad("more than %d pieces", maxPieces)
			}
			p := piece{typ: typeNormal}
			if err := walk(b, func(f, w int, v uint64, b []byte) error {
				switch {
				case f == 1 && w == 2:
					p.text = string(b)
				case f == 2 && w == 5:
					p.score = math.Float32frombits(uint32(v))
				case f == 3 && w == 0:
					p.typ = int(v)
				}
				return nil
			}); err != nil {
				return err
			}
			m.pieces = append(m.pieces, p)
		case 2: // trainer_spec
			if wire != 2 {
				return bad("trainer_spec: wire type %d", wire)
			}
			return walk(b, func(f, w int, v uint64, _ []byte) error {
				if f == 3 && w == 0 {
					modelType = int(v)
				}
				return nil
			})
		case 3: // normalizer_spec
			if wire != 2 {
				return bad("normalizer_spec: wire type %d", wire)
			}
			return walk(b, func(f, w int, v uint64, b []byte) error {
				switch {
				case f == 1 && w == 2:
					m.norm.name = string(b)
				case f == 2 && w == 2:
					m.norm.charsmap = b
				case f == 3 && w == 0:
					m.norm.addDummyPrefix = v != 0
				case f == 4 && w == 0:
					m.norm.removeExtraSpaces = v != 0
				case f == 5 && w == 0:
					m.norm.escapeSpaces = v != 0
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if modelType != 1 {
		return nil, bad("model type %d: only unigram (1) is supported", modelType)
	}
	if len(m.pieces) == 0 {
		return nil, bad("no pieces")
	}
	if err := m.norm.init(); err != nil {
		return nil, err
	}
	m.minScore = float32(math.Inf(1))
	for i, p := range m.pieces {
		switch p.typ {
		case typeNormal, typeUserDefined, typeUnused:
			if p.text == "" {
				return nil, bad("piece %d is empty", i)
			}
			if _, dup := m.index[p.text]; dup {
				return nil, bad("piece %q appears twice", p.text)
			}
			m.index[p.text] = i
			m.maxLen = max(m.maxLen, len(p.text))
			if p.typ == typeNormal {
				m.minScore = min(m.minScore, p.score)
			}
		case typeUnknown:
			if m.unkID >= 0 {
				return nil, bad("two unknown pieces")
			}
			m.unkID = i
		case typeControl, typeByte:
		default:
			return nil, bad("piece %d has type %d", i, p.typ)
		}
	}
	if m.unkID < 0 {
		return nil, bad("no unknown piece")
	}
	return m, nil
}

// walk calls fn for every field of a protobuf message: its number, wire type and value (the
// integer for varint and fixed types, the bytes for length-delimited ones).
func walk(data []byte, fn func(field, wire int, v uint64, b []byte) error) error {
	for len(data) > 0 {
		key, n := binary.Uvarint(data)
		if n <= 0 {
			return bad("truncated field key")
		}
		data = data[n:]
		field, wire := int(key>>3), int(key&7)
		var v uint64
		var b []byte
		switch wire {
		case 0:
			v, n = binary.Uvarint(data)
			if n <= 0 {
				return bad("field %d: truncated varint", field)
			}
			data = data[n:]
		case 1:
			if len(data) < 8 {
				return bad("field %d: truncated", field)
			}
			v, data = binary.LittleEndian.Uint64(data), data[8:]
		case 2:
			l, n := binary.Uvarint(data)
			if n <= 0 || l > uint64(len(data)-n) {
				return bad("field %d: length past the end", field)
			}
			b, data = data[n:n+int(l)], data[n+int(l):]
		case 5:
			if len(data) < 4 {
				return bad("field %d: truncated", field)
			}
			v, data = uint64(binary.LittleEndian.Uint32(data)), data[4:]
		default:
			return bad("field %d: wire type %d", field, wire)
		}
		if err := fn(field, wire, v, b); err != nil {
			return err
		}
	}
	return nil
}

// Size is the number of pieces.
func (m *Model) Size() int { return len(m.pieces) }

// Piece is the text of piece id ("" outside the vocabulary).
func (m *Model) Piece(id int) string {
	if id < 0 || id >= len(m.pieces) {
		return ""
	}
	return m.pieces[id].text
}

// UnknownID is the id of the unknown piece.
func (m *Model) UnknownID() int { return m.unkID }

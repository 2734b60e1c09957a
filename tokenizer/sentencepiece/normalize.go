package sentencepiece

import (
	"encoding/binary"
	"strings"
	"unicode/utf8"
)

// normalizer is SentencePiece's text normaliser: a precompiled character map (a double-array
// trie from input byte sequences to replacements, as nmt_nfkc compiles NFKC with its own
// exceptions), then the whitespace rules.
type normalizer struct {
	name                                            string
	charsmap                                        []byte
	addDummyPrefix, removeExtraSpaces, escapeSpaces bool

	trie        []uint32 // darts-clone units
	replacement []byte   // the replacements, each ending with a zero byte
}

const spaceSymbol = "\u2581" // ▁

func (n *normalizer) init() error {
	if len(n.charsmap) == 0 {
		return nil // identity: no map
	}
	if len(n.charsmap) < 4 {
		return bad("precompiled_charsmap of %d bytes", len(n.charsmap))
	}
	size := binary.LittleEndian.Uint32(n.charsmap)
	if size%4 != 0 || uint64(size) > uint64(len(n.charsmap)-4) || size == 0 {
		return bad("precompiled_charsmap: trie of %d bytes in %d", size, len(n.charsmap))
	}
	n.trie = make([]uint32, size/4)
	for i := range n.trie {
		n.trie[i] = binary.LittleEndian.Uint32(n.charsmap[4+4*i:])
	}
	n.replacement = n.charsmap[4+size:]
	return nil
}

// Darts-clone double-array units: a unit holds a label, an offset to its children, and a
// has-leaf flag; a leaf unit holds a value.
func unitHasLeaf(u uint32) bool  { return u>>8&1 == 1 }
func unitValue(u uint32) uint32  { return u & (1<<31 - 1) }
func unitLabel(u uint32) uint32  { return u & (1<<31 | 0xff) }
func unitOffset(u uint32) uint32 { return (u >> 10) << ((u & (1 << 9)) >> 6) }

// longestMatch returns the value and length of the longest key of the trie that prefixes s
// (length 0: none), as darts-clone's commonPrefixSearch finds them.
func (n *normalizer) longestMatch(s string) (value uint32, length int) {
	if len(n.trie) == 0 {
		return 0, 0
	}
	pos := unitOffset(n.trie[0])
	for i := 0; i < len(s); i++ {
		pos ^= uint32(s[i])
		if int(pos) >= len(n.trie) {
			return value, length
		}
		u := n.trie[pos]
		if unitLabel(u) != uint32(s[i]) {
			return value, length
		}
		pos ^= unitOffset(u)
		if unitHasLeaf(u) {
			if int(pos) >= len(n.trie) {
				return value, length
			}
			value, length = unitValue(n.trie[pos]), i+1
		}
	}
	return value, length
}

// prefix normalises the start of s: the replacement of the longest mapped prefix, or else its
// first character as it is (U+FFFD for a byte that is not UTF-8), and how many bytes it took.
func (n *normalizer) prefix(s string) (string, int) {
	if v, l := n.longestMatch(s); l > 0 && int(v) < len(n.replacement) {
		r := n.replacement[v:]
		if end := strings.IndexByte(string(r), 0); end >= 0 {
			r = r[:end]
		}
		return string(r), l
	}
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size <= 1 {
		return "\ufffd", 1
	}
	return s[:size], size
}

// normalize is SentencePiece's Normalizer::Normalize: leading spaces dropped, a "▁" prefix,
// runs of spaces collapsed, spaces written as "▁", trailing ones dropped.
func (n *normalizer) normalize(s string) string {
	if n.removeExtraSpaces {
		for s != "" {
			p, l := n.prefix(s)
			if p != " " {
				break
			}
			s = s[l:]
		}
	}
	if s == "" {
		return ""
	}
	var b strings.Builder
	if n.addDummyPrefix {
		b.WriteString(n.space())
	}
	prevSpace := n.removeExtraSpaces
	for s != "" {
		p, l := n.prefix(s)
		if prevSpace {
			p = strings.TrimLeft(p, " ")
		}
		if p != "" {
			for i := 0; i < len(p); i++ {
				if p[i] == ' ' && n.escapeSpaces {
					b.WriteString(spaceSymbol)
				} else {
					b.WriteByte(p[i])
				}
			}
			prevSpace = strings.HasSuffix(p, " ")
		}
		s = s[l:]
		if !n.removeExtraSpaces {
			prevSpace = false
		}
	}
	out := b.String()
	if n.removeExtraSpaces {
		for strings.HasSuffix(out, n.space()) {
			out = strings.TrimSuffix(out, n.space())
		}
	}
	return out
}

func (n *normalizer) space() string {
	if n.escapeSpaces {
		return spaceSymbol
	}
	return " "
}

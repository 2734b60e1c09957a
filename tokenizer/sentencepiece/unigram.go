package sentencepiece

import "strings"

// Token is one piece of a segmentation: its text and its id in the model.
type Token struct {
	Piece string
	ID    int
}

// unkPenalty is how much lower than the lowest piece an unknown character scores.
const unkPenalty = 10

// lnode is a lattice node: a piece spanning characters [begin, begin+length).
type lnode struct {
	begin, length int // in characters
	id            int
	score         float32
	best          float32 // the best path's score up to and including this node
	prev          *lnode
}

// Encode normalises text and segments it with the unigram model's Viterbi search, as
// SentencePiece's EncodeAsPieces does: the highest-scoring sequence of pieces (ties keep the
// first found), unknown characters as the unknown piece, consecutive unknowns merged into one.
func (m *Model) Encode(text string) []Token {
	s := m.norm.normalize(text)
	if s == "" {
		return nil
	}
	// Character boundaries in bytes.
	var bounds []int
	for i := range s {
		bounds = append(bounds, i)
	}
	bounds = append(bounds, len(s))
	n := len(bounds) - 1
	begins := make([][]*lnode, n+1)
	ends := make([][]*lnode, n+1)
	insert := func(begin, length, id int, score float32) {
		nd := &lnode{begin: begin, length: length, id: id, score: score}
		begins[begin] = append(begins[begin], nd)
		ends[begin+length] = append(ends[begin+length], nd)
	}
	unkScore := m.minScore - unkPenalty
	for c := 0; c < n; c++ {
		single := false
		// Every piece starting here, shortest first (as a trie's prefix search finds them).
		for e := c + 1; e <= n && bounds[e]-bounds[c] <= m.maxLen; e++ {
			id, ok := m.index[s[bounds[c]:bounds[e]]]
			if !ok || m.pieces[id].typ == typeUnused {
				continue
			}
			score := m.pieces[id].score
			if m.pieces[id].typ == typeUserDefined {
				score = 0
			}
			insert(c, e-c, id, score)
			single = single || e == c+1
		}
		if !single {
			insert(c, 1, m.unkID, unkScore)
		}
	}
	// Viterbi: every node takes the best path ending where it begins.
	for c := 0; c <= n; c++ {
		for _, r := range begins[c] {
			var best *lnode
			var bestScore float32
			for _, l := range ends[c] {
				if sc := l.best; best == nil || sc > bestScore {
					best, bestScore = l, sc
				}
			}
			r.prev, r.best = best, bestScore+r.score
		}
	}
	var last *lnode
	for _, l := range ends[n] {
		if last == nil || l.best > last.best {
			last = l
		}
	}
	var path []*lnode
	for nd := last; nd != nil; nd = nd.prev {
		path = append(path, nd)
	}
	out := make([]Token, 0, len(path))
	for i := len(path) - 1; i >= 0; i-- {
		nd := path[i]
		if nd.id == m.unkID {
			if k := len(out) - 1; k >= 0 && out[k].ID == m.unkID {
				continue // merged into the unknown before it
			}
			out = append(out, Token{Piece: m.pieces[m.unkID].text, ID: m.unkID})
			continue
		}
		out = append(out, Token{Piece: s[bounds[nd.begin]:bounds[nd.begin+nd.length]], ID: nd.id})
	}
	return out
}

// Decode joins pieces into text as SentencePiece's DecodePieces does: "▁" becomes a space and
// the leading one is dropped.
func Decode(pieces []string) string {
	s := strings.ReplaceAll(strings.Join(pieces, ""), spaceSymbol, " ")
	return strings.TrimPrefix(s, " ")
}

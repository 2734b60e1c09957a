// Package tokenizer is BERT's uncased WordPiece tokenizer as Hugging Face tokenizers runs it for
// BLIP: special tokens ([CLS], [SEP], [PAD], [UNK], [MASK] and BLIP's added [DEC] and [ENC])
// matched in the raw text first, then BERT normalisation (clean-up, spaces around CJK
// ideographs, accents stripped through NFD, lower case), splitting on whitespace and
// punctuation, and greedy longest-match WordPiece. Decoding follows the WordPiece decoder and
// transformers' clean_up_tokenization.
//
// The pieces are written here rather than taken from gotokenizers: its BERT normaliser strips
// accents without the NFD step ("naïve" stays unknown) and its punctuation test misses ASCII
// symbols such as "$" and "^", so it cannot match the reference cases.
package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Tokenizer encodes text to ids and decodes ids to text. It is immutable and safe for
// concurrent use.
type Tokenizer struct {
	vocab   map[string]int
	tokens  []string // id -> token; "" for ids without one
	special map[int]bool
	added   []string // special tokens, longest first, for matching in raw text (splitSpecial relies on the order)
	maxID   int      // ids are below it: the number of entries the files list

	Lowercase, StripAccents, ChineseChars bool
	MaxInputCharsPerWord                  int

	UNK, CLS, SEP, PAD, MASK int
	// BOS is BLIP's [DEC], which replaces [CLS] at the start of decoder input.
	BOS int
}

// Load reads the tokenizer of a snapshot folder: tokenizer.json when present, else vocab.txt
// with tokenizer_config.json naming the special tokens.
func Load(dir string) (*Tokenizer, error) {
	tj := filepath.Join(dir, "tokenizer.json")
	if data, err := os.ReadFile(tj); err == nil {
		t, err := FromJSON(data)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %s: %w", tj, err)
		}
		return t, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	vt := filepath.Join(dir, "vocab.txt")
	vocab, err := os.ReadFile(vt)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: neither tokenizer.json nor vocab.txt readable in %s: %w", dir, err)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := FromVocab(vocab, cfg)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", vt, err)
	}
	return t, nil
}

// FromJSON builds a tokenizer from a tokenizer.json of a BertTokenizer: a WordPiece model
// with a BertNormalizer and a BertPreTokenizer.
func FromJSON(data []byte) (*Tokenizer, error) {
	var tj struct {
		AddedTokens []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens"`
		Normalizer *struct {
			Type         string `json:"type"`
			CleanText    bool   `json:"clean_text"`
			ChineseChars bool   `json:"handle_chinese_chars"`
			StripAccents *bool  `json:"strip_accents"`
			Lowercase    bool   `json:"lowercase"`
		} `json:"normalizer"`
		Model struct {
			Type     string         `json:"type"`
			UNK      string         `json:"unk_token"`
			Prefix   string         `json:"continuing_subword_prefix"`
			MaxChars int            `json:"max_input_chars_per_word"`
			Vocab    map[string]int `json:"vocab"`
		} `json:"model"`
	}
	if err := json.Unmarshal(data, &tj); err != nil {
		return nil, err
	}
	if tj.Model.Type != "WordPiece" || (tj.Model.Prefix != "" && tj.Model.Prefix != "##") {
		return nil, fmt.Errorf("model %q with prefix %q: only WordPiece with \"##\" is supported", tj.Model.Type, tj.Model.Prefix)
	}
	if tj.Normalizer == nil || tj.Normalizer.Type != "BertNormalizer" || !tj.Normalizer.CleanText {
		return nil, errors.New("only a BertNormalizer with clean_text is supported")
	}
	t := &Tokenizer{vocab: map[string]int{}, special: map[int]bool{}, MaxInputCharsPerWord: tj.Model.MaxChars}
	// Ids are dense: none can reach the number of entries the file lists (a hostile id of
	// 1<<24 would otherwise cost a table of that size).
	t.maxID = len(tj.Model.Vocab) + len(tj.AddedTokens)
	for tok, id := range tj.Model.Vocab {
		if err := t.add(tok, id); err != nil {
			return nil, err
		}
	}
	for _, a := range tj.AddedTokens {
		if a.Content == "" {
			return nil, fmt.Errorf("added token %d is empty", a.ID)
		}
		if err := t.add(a.Content, a.ID); err != nil {
			return nil, err
		}
		if a.Special {
			t.markSpecial(a.Content)
		}
	}
	n := tj.Normalizer
	t.Lowercase, t.ChineseChars = n.Lowercase, n.ChineseChars
	t.StripAccents = n.Lowercase
	if n.StripAccents != nil {
		t.StripAccents = *n.StripAccents
	}
	unk := tj.Model.UNK
	if unk == "" {
		unk = "[UNK]"
	}
	return t, t.finish(unk, "[CLS]", "[SEP]", "[PAD]", "[MASK]", "[DEC]")
}

// FromVocab builds a tokenizer from vocab.txt (one token per line, the line number is the id)
// and an optional tokenizer_config.json. Its bos_token ([DEC] for BLIP) and extra special
// tokens are appended to the vocabulary when absent, in that order, as BLIP's processor adds
// them.
func FromVocab(vocab, config []byte) (*Tokenizer, error) {
	cfg := struct {
		DoLowerCase  *bool    `json:"do_lower_case"`
		StripAccents *bool    `json:"strip_accents"`
		ChineseChars *bool    `json:"tokenize_chinese_chars"`
		UNK          string   `json:"unk_token"`
		CLS          string   `json:"cls_token"`
		SEP          string   `json:"sep_token"`
		PAD          string   `json:"pad_token"`
		MASK         string   `json:"mask_token"`
		BOS          string   `json:"bos_token"`
		Extra        []string `json:"extra_special_tokens"`
		Additional   []string `json:"additional_special_tokens"`
	}{UNK: "[UNK]", CLS: "[CLS]", SEP: "[SEP]", PAD: "[PAD]", MASK: "[MASK]", BOS: "[DEC]"}
	if len(config) > 0 {
		if err := json.Unmarshal(config, &cfg); err != nil {
			return nil, fmt.Errorf("tokenizer_config.json: %v", err)
		}
	}
	t := &Tokenizer{vocab: map[string]int{}, special: map[int]bool{}, MaxInputCharsPerWord: 100, Lowercase: true, ChineseChars: true}
	// A line is an id; the special tokens may add as many again.
	t.maxID = bytes.Count(vocab, []byte("\n")) + 1 + 6 + len(cfg.Extra) + len(cfg.Additional)
	sc := bufio.NewScanner(bytes.NewReader(vocab))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for id := 0; sc.Scan(); id++ {
		tok := strings.TrimRight(sc.Text(), "\r")
		if _, dup := t.vocab[tok]; dup {
			continue // the first id wins, as in transformers' load_vocab
		}
		if err := t.add(tok, id); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cfg.DoLowerCase != nil {
		t.Lowercase = *cfg.DoLowerCase
	}
	if cfg.ChineseChars != nil {
		t.ChineseChars = *cfg.ChineseChars
	}
	t.StripAccents = t.Lowercase
	if cfg.StripAccents != nil {
		t.StripAccents = *cfg.StripAccents
	}
	for _, s := range append([]string{cfg.UNK, cfg.CLS, cfg.SEP, cfg.PAD, cfg.MASK, cfg.BOS}, append(cfg.Extra, cfg.Additional...)...) {
		if s == "" {
			continue
		}
		if _, ok := t.vocab[s]; !ok {
			if err := t.add(s, len(t.tokens)); err != nil {
				return nil, err
			}
		}
		t.markSpecial(s)
	}
	return t, t.finish(cfg.UNK, cfg.CLS, cfg.SEP, cfg.PAD, cfg.MASK, cfg.BOS)
}

func (t *Tokenizer) add(tok string, id int) error {
	if id < 0 || id >= t.maxID {
		return fmt.Errorf("token %.40q has id %d, outside [0, %d) for a file of %d entries", tok, id, t.maxID, t.maxID)
	}
	for len(t.tokens) <= id {
		t.tokens = append(t.tokens, "")
	}
	t.tokens[id] = tok
	if tok != "" { // an empty line of vocab.txt keeps its id but matches nothing
		t.vocab[tok] = id
	}
	return nil
}

func (t *Tokenizer) markSpecial(tok string) {
	id := t.vocab[tok]
	if !t.special[id] {
		t.special[id] = true
		t.added = append(t.added, tok)
	}
}

func (t *Tokenizer) finish(unk, cls, sep, pad, mask, bos string) error {
	if t.MaxInputCharsPerWord <= 0 {
		t.MaxInputCharsPerWord = 100
	}
	sort.SliceStable(t.added, func(i, j int) bool { return len(t.added[i]) > len(t.added[j]) })
	for _, s := range []struct {
		name string
		dst  *int
	}{{unk, &t.UNK}, {cls, &t.CLS}, {sep, &t.SEP}, {pad, &t.PAD}, {mask, &t.MASK}, {bos, &t.BOS}} {
		id, ok := t.vocab[s.name]
		if !ok {
			return fmt.Errorf("special token %q is not in the vocabulary", s.name)
		}
		*s.dst = id
	}
	return nil
}

// VocabSize is one more than the largest id.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// Token returns the token of an id ("" when unknown).
func (t *Tokenizer) Token(id int) string {
	if id < 0 || id >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// IsSpecial tells whether id is a special token (skipped by Decode with skipSpecial).
func (t *Tokenizer) IsSpecial(id int) bool { return t.special[id] }

// Encode returns the ids of text framed as [CLS] text [SEP], as the tokenizer's post-processor
// does.
func (t *Tokenizer) Encode(text string) []int {
	ids := []int{t.CLS}
	for _, seg := range t.splitSpecial(text) {
		if id, ok := t.vocab[seg]; ok && t.special[id] {
			ids = append(ids, id)
			continue
		}
		for _, w := range t.preTokenize(t.normalize(seg)) {
			ids = append(ids, t.wordPiece(w)...)
		}
	}
	return append(ids, t.SEP)
}

// splitSpecial cuts text around the special tokens it contains (leftmost, longest first:
// t.added is longest first, so of the tokens found at one place the first is the longest).
func (t *Tokenizer) splitSpecial(text string) []string {
	var out []string
	for len(text) > 0 {
		at, which := -1, ""
		for _, s := range t.added {
			if i := strings.Index(text, s); i >= 0 && (at < 0 || i < at) {
				at, which = i, s
			}
		}
		if at < 0 {
			out = append(out, text)
			break
		}
		if at > 0 {
			out = append(out, text[:at])
		}
		out = append(out, which)
		text = text[at+len(which):]
	}
	return out
}

func (t *Tokenizer) normalize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == 0 || r == unicode.ReplacementChar || isControl(r) {
			continue
		}
		if isWhitespace(r) {
			b.WriteByte(' ')
			continue
		}
		if t.ChineseChars && isChinese(r) {
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
			continue
		}
		b.WriteRune(r)
	}
	s = b.String()
	if t.StripAccents {
		b.Reset()
		for _, r := range norm.NFD.String(s) {
			if !unicode.Is(unicode.Mn, r) {
				b.WriteRune(r)
			}
		}
		s = b.String()
	}
	if t.Lowercase {
		s = strings.ToLower(s)
	}
	return s
}

// preTokenize splits on whitespace (dropped) and punctuation (kept as one-rune words).
func (t *Tokenizer) preTokenize(s string) []string {
	var words []string
	start := -1
	for i, r := range s {
		switch {
		case unicode.IsSpace(r):
			if start >= 0 {
				words = append(words, s[start:i])
				start = -1
			}
		case isPunctuation(r):
			if start >= 0 {
				words = append(words, s[start:i])
				start = -1
			}
			words = append(words, string(r))
		default:
			if start < 0 {
				start = i
			}
		}
	}
	if start >= 0 {
		words = append(words, s[start:])
	}
	return words
}

// wordPiece splits a word greedily into the longest vocabulary pieces, continuations prefixed
// "##"; a word that cannot be split, or is too long, is one [UNK].
func (t *Tokenizer) wordPiece(w string) []int {
	if len([]rune(w)) > t.MaxInputCharsPerWord {
		return []int{t.UNK}
	}
	var ids []int
	for start := 0; start < len(w); {
		end, found := len(w), -1
		for ; end > start; end-- {
			if !isRuneStart(w, end) {
				continue
			}
			piece := w[start:end]
			if start > 0 {
				piece = "##" + piece
			}
			if id, ok := t.vocab[piece]; ok {
				found = id
				break
			}
		}
		if found < 0 {
			return []int{t.UNK}
		}
		ids = append(ids, found)
		start = end
	}
	return ids
}

func isRuneStart(s string, i int) bool { return i == len(s) || s[i]&0xc0 != 0x80 }

// Decode turns ids into text: special tokens dropped when skipSpecial, WordPiece continuations
// joined, and, when cleanUp, transformers' clean_up_tokenization (" ." -> ".", " 's" -> "'s",
// ...). Ids without a token are skipped, as the Rust tokenizer does.
func (t *Tokenizer) Decode(ids []int, skipSpecial, cleanUp bool) string {
	var b strings.Builder
	first := true
	for _, id := range ids {
		tok := t.Token(id)
		if tok == "" || (skipSpecial && t.special[id]) {
			continue
		}
		if rest, ok := strings.CutPrefix(tok, "##"); ok {
			tok = rest
		} else if !first {
			tok = " " + tok
		}
		first = false
		b.WriteString(wordPieceCleanup(tok))
	}
	s := b.String()
	if cleanUp {
		s = cleanUpTokenization(s)
	}
	return s
}

// wordPieceCleanup is the WordPiece decoder's per-token clean-up (its cleanup option, on in
// BERT's tokenizer.json).
func wordPieceCleanup(s string) string {
	return strings.NewReplacer(" .", ".", " ?", "?", " !", "!", " ,", ",", " ' ", "'", " n't", "n't",
		" 'm", "'m", " do not", " don't", " 's", "'s", " 've", "'ve", " 're", "'re").Replace(s)
}

// cleanUpTokenization is transformers' clean_up_tokenization, applied to the whole text.
func cleanUpTokenization(s string) string {
	for _, r := range [][2]string{{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
		{" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}} {
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	return s
}

func isWhitespace(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || unicode.IsSpace(r)
}

// isControl is Rust's char::is_other (Cc, Cf, Cs, Co, Cn) but for tab, newline and return.
func isControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Cs, unicode.Co) {
		return true
	}
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

// isPunctuation is BERT's punctuation: every ASCII symbol plus Unicode category P.
func isPunctuation(r rune) bool {
	if r < 128 {
		return r > ' ' && r < 127 && !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
	}
	return unicode.IsPunct(r)
}

func isChinese(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) || (r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) || (r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

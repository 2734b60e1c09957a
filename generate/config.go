package generate

import "fmt"

// Config mirrors the keys of generation_config.json that the models here read; nil means
// absent (the model's or transformers' default applies). One type serves every model: each
// reads the keys its transformers class honours.
type Config struct {
	MaxLength           *int     `json:"max_length"`
	MaxNewTokens        *int     `json:"max_new_tokens"`
	MinLength           *int     `json:"min_length"`
	NumBeams            *int     `json:"num_beams"`
	LengthPenalty       *float64 `json:"length_penalty"`
	RepetitionPenalty   *float64 `json:"repetition_penalty"`
	NoRepeatNgramSize   *int     `json:"no_repeat_ngram_size"`
	EarlyStopping       any      `json:"early_stopping"` // false, true or "never"
	DoSample            *bool    `json:"do_sample"`
	Temperature         *float64 `json:"temperature"`
	TopK                *int     `json:"top_k"`
	TopP                *float64 `json:"top_p"`
	BadWordsIDs         [][]int  `json:"bad_words_ids"`
	EOSTokenID          *int     `json:"eos_token_id"`
	ForcedEOSTokenID    *int     `json:"forced_eos_token_id"`
	DecoderStartTokenID *int     `json:"decoder_start_token_id"`
}

// EarlyStop returns early_stopping as an EarlyStop: true is EarlyStopAll, "never"
// EarlyStopNever, anything else (false, absent) the heuristic default.
func (c *Config) EarlyStop() EarlyStop {
	switch c.EarlyStopping {
	case true:
		return EarlyStopAll
	case "never":
		return EarlyStopNever
	}
	return EarlyStopHeuristic
}

// BadTokens returns bad_words_ids as tokens never to generate; a banned sequence of more
// than one token is not supported and is an error rather than ignored.
func (c *Config) BadTokens() ([]int, error) {
	var out []int
	for _, w := range c.BadWordsIDs {
		if len(w) != 1 {
			return nil, fmt.Errorf("%w: bad_words_ids entry %v: only single tokens are supported", ErrOption, w)
		}
		out = append(out, w[0])
	}
	return out, nil
}

// Apply sets in s the keys that mean the same for every model: min_length, num_beams,
// length_penalty, repetition_penalty, no_repeat_ngram_size, early_stopping, do_sample,
// temperature, top_k and top_p, each where present. Lengths, end tokens and banned words are
// the model's to read (their meaning depends on its input).
func (c *Config) Apply(s *Settings) {
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	setFloat := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&s.MinLength, c.MinLength)
	set(&s.NumBeams, c.NumBeams)
	set(&s.NoRepeatNgramSize, c.NoRepeatNgramSize)
	set(&s.TopK, c.TopK)
	setFloat(&s.LengthPenalty, c.LengthPenalty)
	setFloat(&s.RepetitionPenalty, c.RepetitionPenalty)
	setFloat(&s.Temperature, c.Temperature)
	setFloat(&s.TopP, c.TopP)
	if c.DoSample != nil {
		s.DoSample = *c.DoSample
	}
	s.EarlyStopping = c.EarlyStop()
}

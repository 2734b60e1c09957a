// Command caption describes images with a BLIP checkpoint, as transformers'
// BlipForConditionalGeneration would.
//
//	go run ./examples/caption [flags] IMAGE...
//
// With -json it prints one JSON object per image per line:
// {"image": PATH, "caption": TEXT, "ids": [...]} or {"image": PATH, "error": TEXT}.
// It exits with status 1 when any image failed, 2 on a usage error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/imagesemantics/blipgo/blip"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type result struct {
	Image   string `json:"image"`
	Caption string `json:"caption,omitempty"`
	IDs     []int  `json:"ids,omitempty"`
	Error   string `json:"error,omitempty"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("caption", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: caption [flags] IMAGE...")
		fs.PrintDefaults()
	}
	model := fs.String("model", "", "snapshot folder (config.json, *.safetensors, tokenizer, preprocessor_config.json)")
	prompt := fs.String("prompt", "", "conditional captioning: the caption starts with this text")
	maxLength := fs.Int("max-length", 20, "longest sequence, counting BOS and prompt, as transformers' max_length;\nwhen not given, transformers' default applies: 20 new tokens after the prompt")
	maxNew := fs.Int("max-new-tokens", 0, "longest caption in new tokens; overrides -max-length when > 0")
	minLength := fs.Int("min-length", 0, "shortest sequence, counting BOS and prompt")
	beams := fs.Int("beams", 1, "beam search width (1: greedy)")
	lengthPenalty := fs.Float64("length-penalty", 1.0, "beam search length penalty exponent")
	repetition := fs.Float64("repetition-penalty", 1.0, "repetition penalty (1: none)")
	noRepeat := fs.Int("no-repeat-ngram", 0, "forbid repeating n-grams of this size (0: off)")
	threads := fs.Int("threads", runtime.GOMAXPROCS(0), "threads to compute with")
	asJSON := fs.Bool("json", false, "print one JSON object per image per line")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *model == "" || fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if *threads < 1 {
		fmt.Fprintln(stderr, "caption: -threads must be at least 1")
		return 2
	}
	runtime.GOMAXPROCS(*threads)
	opts := []blip.Option{
		blip.Prompt(*prompt), blip.MaxNewTokens(*maxNew), blip.MinLength(*minLength), blip.Beams(*beams),
		blip.LengthPenalty(*lengthPenalty), blip.RepetitionPenalty(*repetition), blip.NoRepeatNgramSize(*noRepeat),
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "max-length" {
			opts = append(opts, blip.MaxLength(*maxLength))
		}
	})
	m, err := blip.Load(*model, blip.Threads(*threads))
	if err != nil {
		fmt.Fprintln(stderr, "caption:", err)
		return 1
	}
	defer m.Close()
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	failed := false
	for _, path := range fs.Args() {
		r := result{Image: path}
		c, err := m.CaptionFile(ctx, path, opts...)
		if err != nil {
			failed = true
			r.Error = err.Error()
		} else {
			r.Caption, r.IDs = c.Text, c.IDs
		}
		switch {
		case *asJSON:
			enc.Encode(r)
		case r.Error != "":
			fmt.Fprintf(stderr, "%s: error: %s\n", path, r.Error)
		default:
			fmt.Fprintf(stdout, "%s: %s\n", path, r.Caption)
		}
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "caption: interrupted")
			return 1
		}
	}
	if failed {
		return 1
	}
	return 0
}

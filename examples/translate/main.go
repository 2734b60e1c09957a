// Command translate translates texts with a MarianMT model (Helsinki-NLP/opus-mt-en-de and the
// like), as transformers' MarianMTModel.generate does:
//
//	go run ./examples/translate -model DIR|ID [-beams N] [-max-new-tokens N] [-repetition-penalty F] [-json] TEXT...
//
// With -json it prints {"text": TEXT, "translation": TEXT, "ids": [...]} per text, one a line.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/imagesemantics/blipgo/blip/hub"
	"github.com/imagesemantics/blipgo/translate"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("translate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	model := fs.String("model", "Helsinki-NLP/opus-mt-en-de", "snapshot folder or Hugging Face hub id")
	beams := fs.Int("beams", 0, "beam search width (0: the model's generation_config.json, 4 for opus-mt)")
	maxNew := fs.Int("max-new-tokens", 0, "longest translation in new tokens (0: the model's max_length)")
	repetition := fs.Float64("repetition-penalty", 0, "repetition penalty (0: none)")
	threads := fs.Int("threads", runtime.GOMAXPROCS(0), "threads to compute with")
	asJSON := fs.Bool("json", false, "print one JSON object per text per line")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 || *beams < 0 || *maxNew < 0 || *repetition < 0 || *threads < 1 {
		fmt.Fprintln(stderr, "usage: translate [flags] TEXT...")
		fs.PrintDefaults()
		return 2
	}
	m, err := translate.LoadAny(ctx, *model, *threads, hub.Options{})
	if err != nil {
		fmt.Fprintln(stderr, "translate:", err)
		return 1
	}
	defer m.Close()
	out, err := m.Translate(ctx, fs.Args(), translate.Options{NumBeams: *beams, MaxNewTokens: *maxNew, RepetitionPenalty: *repetition})
	if err != nil {
		fmt.Fprintln(stderr, "translate:", err)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	for i, t := range out {
		if *asJSON {
			enc.Encode(struct {
				Text        string `json:"text"`
				Translation string `json:"translation"`
				IDs         []int  `json:"ids"`
			}{fs.Arg(i), t.Text, t.IDs})
		} else {
			fmt.Fprintln(stdout, t.Text)
		}
	}
	return 0
}

// Command caption describes images with a BLIP checkpoint, as transformers'
// BlipForConditionalGeneration would; with -question it answers a question about each image
// (a BlipForQuestionAnswering checkpoint), with -match it scores texts against each image (a
// BlipForImageTextRetrieval checkpoint).
//
//	go run ./examples/caption [flags] IMAGE|DIR|GLOB|- ...
//	go run ./examples/caption -model VQA -question TEXT [flags] IMAGE...
//	go run ./examples/caption -model ITM -match TEXT [-match TEXT ...] IMAGE...
//
// With -json, answers print as {"image": PATH, "question": TEXT, "answer": TEXT, "ids": [...]}
// and matches as {"image": PATH, "matches": [{"text": TEXT, "itm_prob": F, "cosine": F}, ...]}.
//
// -model takes a snapshot folder or a Hugging Face hub id, resolved from the hub cache shared
// with the Python client and downloaded when missing (HF_HUB_OFFLINE=1 keeps it offline).
// Directories are searched for images, quoted globs are expanded, and "-" reads one image from
// standard input. With -json it prints one JSON object per image per line, in argument order:
// {"image": PATH, "caption": TEXT, "ids": [...]} or {"image": PATH, "error": TEXT}. An image
// that fails does not stop the others. Exit status: 0 when every image was captioned, 1 when
// any failed (or the model did not load), 2 on a usage error. Progress goes to standard error
// when it is a terminal.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/term"

	"github.com/imagesemantics/blipgo/blip"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, term.IsTerminal(int(os.Stderr.Fd())))
	stop()
	os.Exit(code)
}

// result is one line of output. Caption and Answer are pointers so that an empty caption or
// answer is still printed.
type result struct {
	Image    string        `json:"image"`
	Caption  *string       `json:"caption,omitempty"`
	Question string        `json:"question,omitempty"`
	Answer   *string       `json:"answer,omitempty"`
	Matches  []matchResult `json:"matches,omitempty"`
	IDs      []int         `json:"ids,omitempty"`
	Error    string        `json:"error,omitempty"`
}

type matchResult struct {
	Text    string  `json:"text"`
	ITMProb float32 `json:"itm_prob"`
	Cosine  float32 `json:"cosine"`
}

// texts is a repeatable string flag.
type texts []string

func (t *texts) String() string     { return strings.Join(*t, ", ") }
func (t *texts) Set(v string) error { *t = append(*t, v); return nil }

// task is what to do with each image.
type task struct {
	question string
	matches  []string
	opts     []blip.Option
}

// input is one image to caption: a path, or the bytes of standard input.
type input struct {
	name string
	data []byte // set for "-"
	err  error  // set when the argument could not be expanded
}

var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".gif": true, ".webp": true, ".bmp": true, ".tif": true, ".tiff": true}

// expand turns the arguments into inputs: directories are walked for image files (sorted),
// globs are expanded, "-" is read from stdin.
func expand(args []string, stdin io.Reader) []input {
	var out []input
	for _, a := range args {
		switch {
		case a == "-":
			data, err := io.ReadAll(stdin)
			out = append(out, input{name: "-", data: data, err: err})
		case strings.ContainsAny(a, "*?["):
			matches, err := filepath.Glob(a)
			if err == nil && len(matches) == 0 {
				err = errors.New("no file matches")
			}
			if err != nil {
				out = append(out, input{name: a, err: err})
			}
			for _, m := range matches {
				out = append(out, input{name: m})
			}
		default:
			st, err := os.Stat(a)
			if err != nil || !st.IsDir() {
				out = append(out, input{name: a}) // a missing file reports its own error
				continue
			}
			var found []string
			err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if !d.IsDir() && imageExts[strings.ToLower(filepath.Ext(p))] {
					found = append(found, p)
				}
				return nil
			})
			if err != nil {
				out = append(out, input{name: a, err: err})
			}
			sort.Strings(found)
			if err == nil && len(found) == 0 {
				out = append(out, input{name: a, err: errors.New("no images in this directory")})
			}
			for _, f := range found {
				out = append(out, input{name: f})
			}
		}
	}
	return out
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, tty bool) int {
	fs := flag.NewFlagSet("caption", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: caption [flags] IMAGE|DIR|GLOB|- ...")
		fs.PrintDefaults()
	}
	model := fs.String("model", blip.DefaultModel, "snapshot folder or Hugging Face hub id (ORG/NAME)")
	revision := fs.String("revision", "main", "hub branch, tag or commit (with a hub id)")
	prompt := fs.String("prompt", "", "conditional captioning: the caption starts with this text")
	maxLength := fs.Int("max-length", 20, "longest sequence, counting BOS and prompt, as transformers' max_length;\nwhen not given, transformers' default applies: 20 new tokens after the prompt")
	maxNew := fs.Int("max-new-tokens", 0, "longest caption in new tokens; overrides -max-length when > 0")
	minLength := fs.Int("min-length", 0, "shortest sequence, counting BOS and prompt")
	beams := fs.Int("beams", 1, "beam search width (1: greedy)")
	lengthPenalty := fs.Float64("length-penalty", 1.0, "beam search length penalty exponent")
	repetition := fs.Float64("repetition-penalty", 1.0, "repetition penalty (1: none)")
	noRepeat := fs.Int("no-repeat-ngram", 0, "forbid repeating n-grams of this size (0: off)")
	threads := fs.Int("threads", runtime.GOMAXPROCS(0), "threads to compute with")
	concurrency := fs.Int("concurrency", 1, "images captioned at the same time")
	asJSON := fs.Bool("json", false, "print one JSON object per image per line")
	question := fs.String("question", "", "answer this question about each image (a question-answering checkpoint)")
	var matches texts
	fs.Var(&matches, "match", "score this text against each image (an image-text matching checkpoint; repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if *threads < 1 || *concurrency < 1 {
		fmt.Fprintln(stderr, "caption: -threads and -concurrency must be at least 1")
		return 2
	}
	if *question != "" && len(matches) > 0 {
		fmt.Fprintln(stderr, "caption: -question and -match ask for different checkpoints: give one")
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
	bar := &progress{w: stderr, on: tty}
	m, err := blip.LoadAny(ctx, *model, blip.Threads(*threads), blip.Revision(*revision),
		blip.Progress(func(file string, done, total int64) { bar.bytes(file, done, total) }))
	bar.clear()
	if err != nil {
		fmt.Fprintln(stderr, "caption:", err)
		return 1
	}
	defer m.Close()
	want := blip.Captioning
	switch {
	case *question != "":
		want = blip.QuestionAnswering
		if *prompt != "" {
			fmt.Fprintln(stderr, "caption: -prompt does not apply to -question")
			return 2
		}
		opts = opts[1:] // the empty prompt
	case len(matches) > 0:
		want = blip.ImageTextMatching
	}
	if m.Task() != want {
		fmt.Fprintf(stderr, "caption: %s is a %s checkpoint; %s needs a %s one\n", *model, m.Task(), map[blip.Task]string{
			blip.Captioning: "captioning", blip.QuestionAnswering: "-question", blip.ImageTextMatching: "-match"}[want], want)
		return 1
	}
	job := task{question: *question, matches: matches, opts: opts}

	inputs := expand(fs.Args(), stdin)
	results := make([]result, len(inputs))
	ready := make([]chan struct{}, len(inputs))
	for i := range ready {
		ready[i] = make(chan struct{})
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				results[i] = describe(ctx, m, inputs[i], job)
				close(ready[i])
			}
		}()
	}
	go func() {
		for i := range inputs {
			jobs <- i
		}
		close(jobs)
	}()
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	failed := false
	for i := range inputs {
		<-ready[i]
		r := results[i]
		bar.clear()
		failed = failed || r.Error != ""
		switch {
		case *asJSON:
			enc.Encode(r)
		case r.Error != "":
			fmt.Fprintf(stderr, "%s: error: %s\n", r.Image, r.Error)
		case r.Answer != nil:
			fmt.Fprintf(stdout, "%s: %s\n", r.Image, *r.Answer)
		case r.Matches != nil:
			for _, mr := range r.Matches {
				fmt.Fprintf(stdout, "%s: %q itm_prob %.4f cosine %.4f\n", r.Image, mr.Text, mr.ITMProb, mr.Cosine)
			}
		default:
			fmt.Fprintf(stdout, "%s: %s\n", r.Image, *r.Caption)
		}
		if len(inputs) > 1 && i+1 < len(inputs) {
			bar.count(i+1, len(inputs))
		}
	}
	wg.Wait()
	bar.clear()
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "caption: interrupted")
		return 1
	}
	if failed {
		return 1
	}
	return 0
}

// describe captions, answers or matches one input.
func describe(ctx context.Context, m *blip.Model, in input, job task) result {
	r := result{Image: in.name}
	if in.err != nil {
		r.Error = in.err.Error()
		return r
	}
	data := in.data
	if data == nil {
		var err error
		if data, err = os.ReadFile(in.name); err != nil {
			r.Error = err.Error()
			return r
		}
	}
	img, err := m.DecodeImage(bytes.NewReader(data))
	if err != nil {
		r.Error = err.Error()
		return r
	}
	switch {
	case job.question != "":
		r.Question = job.question
		a, err := m.Answer(ctx, img, job.question, job.opts...)
		if err != nil {
			r.Error = err.Error()
			return r
		}
		r.Answer, r.IDs = &a.Text, a.IDs
	case len(job.matches) > 0:
		ms, err := m.Match(ctx, img, job.matches...)
		if err != nil {
			r.Error = err.Error()
			return r
		}
		r.Matches = make([]matchResult, len(ms))
		for i, mt := range ms {
			r.Matches[i] = matchResult{Text: mt.Text, ITMProb: mt.ITMProb, Cosine: mt.Cosine}
		}
	default:
		c, err := m.Caption(ctx, img, job.opts...)
		if err != nil {
			r.Error = err.Error()
			return r
		}
		r.Caption, r.IDs = &c.Text, c.IDs
	}
	return r
}

// progress draws one status line on a terminal; it does nothing when off.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	on    bool
	drawn bool
}

func (p *progress) draw(format string, args ...any) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\033[K"+format, args...)
	p.drawn = true
}

func (p *progress) bytes(file string, done, total int64) {
	const mb = 1 << 20
	if total > 0 {
		width := 30
		filled := min(max(int(float64(width)*float64(done)/float64(total)), 0), width) // a download may outgrow its announced size
		p.draw("%s [%s%s] %.1f/%.1f MB", file, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), float64(done)/mb, float64(total)/mb)
		return
	}
	p.draw("%s %.1f MB", file, float64(done)/mb)
}

func (p *progress) count(done, total int) { p.draw("captioned %d/%d", done, total) }

func (p *progress) clear() {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// Command caption describes images with a BLIP checkpoint, as transformers'
// BlipForConditionalGeneration would; with -question it answers questions about each image
// (a BlipForQuestionAnswering checkpoint), with -match it scores texts against each image (a
// BlipForImageTextRetrieval checkpoint).
//
//	go run ./examples/caption [flags] IMAGE|DIR|GLOB|- ...
//	go run ./examples/caption -model VQA -question TEXT [-question TEXT ...] [flags] IMAGE...
//	go run ./examples/caption -model ITM -match TEXT [-match TEXT ...] IMAGE...
//
// With -json, answers print as {"image": PATH, "question": TEXT, "answer": TEXT, "ids": [...]},
// one line per image and question (each image is encoded once for all its questions), and
// matches as {"image": PATH, "matches": [{"text": TEXT, "itm_prob": F, "cosine": F}, ...]}.
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
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/imagesemantics/blipgo/blip"
	"github.com/imagesemantics/blipgo/blip/hub"
	"github.com/imagesemantics/blipgo/imageproc"
	"github.com/imagesemantics/blipgo/internal/fleet"
	"github.com/imagesemantics/blipgo/tensor"
	"github.com/imagesemantics/blipgo/translate"
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
	// Translation is the caption translated by -translate's model.
	Translation *string `json:"translation,omitempty"`
	Written     string  `json:"written,omitempty"` // the caption file -write wrote
	Skipped     bool    `json:"skipped,omitempty"` // -write found the file and left it
	Error       string  `json:"error,omitempty"`
	path        string  // the caption file's path, with -write
	// more holds the answers to an image's second and later questions, printed after it.
	more []result
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
	questions []string
	matches   []string
	opts      []blip.Option
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
				out = append(out, input{name: m, err: notRegular(m)})
			}
		default:
			st, err := os.Stat(a)
			if err != nil || !st.IsDir() {
				out = append(out, input{name: a}) // a missing file reports its own error
				continue
			}
			var found []string
			special := map[string]error{}
			err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if !d.IsDir() && imageExts[strings.ToLower(filepath.Ext(p))] {
					found = append(found, p)
					if !d.Type().IsRegular() { // a link, or no file at all
						special[p] = notRegular(p)
					}
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
				out = append(out, input{name: f, err: special[f]})
			}
		}
	}
	return out
}

// notRegular is the error of a file found by a search (a folder's walk, a glob) that, links
// followed, is neither a regular file nor missing (missing, its open says so): a FIFO named
// like an image would block its read for good, a device would be read as one. A file named on
// the command line is read as it is (a pipe of the shell's <(...) included).
func notRegular(p string) error {
	if st, err := os.Stat(p); err == nil && !st.Mode().IsRegular() && !st.IsDir() {
		return errors.New("not a regular file")
	}
	return nil
}

// options are the command line's settings after parsing.
type options struct {
	model, revision, format, write, prefix, suffix string
	overwrite                                      bool
	threads, concurrency, batch, maxPixels         int
	translator                                     *translate.Model // -translate, or nil
	job                                            task
}

// parseArgs reads flags anywhere among the arguments (caption img.png -json works); "--" ends
// the flags, so that a file named like a flag can follow it.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	var after []string
	for i, a := range args {
		if a == "--" {
			args, after = args[:i], args[i+1:]
			break
		}
	}
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return append(pos, after...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, tty bool) int {
	fs := flag.NewFlagSet("caption", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: caption [flags] IMAGE|DIR|GLOB|- ...")
		fs.PrintDefaults()
	}
	var o options
	fs.StringVar(&o.model, "model", blip.DefaultModel, "snapshot folder or Hugging Face hub id (ORG/NAME)")
	fs.StringVar(&o.revision, "revision", "main", "hub branch, tag or commit (with a hub id)")
	prompt := fs.String("prompt", "", "conditional captioning: the caption starts with this text")
	maxLength := fs.Int("max-length", 20, "longest sequence, counting BOS and prompt, as transformers' max_length;\nwhen not given, transformers' default applies: 20 new tokens after the prompt")
	maxNew := fs.Int("max-new-tokens", 0, "longest caption in new tokens; overrides -max-length when > 0")
	minLength := fs.Int("min-length", 0, "shortest sequence, counting BOS and prompt")
	beams := fs.Int("beams", 1, "beam search width (1: greedy)")
	lengthPenalty := fs.Float64("length-penalty", 1.0, "beam search length penalty exponent")
	repetition := fs.Float64("repetition-penalty", 1.0, "repetition penalty (1: none)")
	noRepeat := fs.Int("no-repeat-ngram", 0, "forbid repeating n-grams of this size (0: off)")
	sample := fs.Bool("sample", false, "sample each token (transformers' do_sample) instead of taking the best")
	temperature := fs.Float64("temperature", 1.0, "sampling temperature")
	topK := fs.Int("top-k", 50, "sample from the k most likely tokens (0: all)")
	topP := fs.Float64("top-p", 1.0, "sample from the most likely tokens reaching this probability (1: all)")
	seed := fs.Int64("seed", -1, "sampling seed: the same seed gives the same captions (-1: a new one each run)")
	fs.IntVar(&o.threads, "threads", runtime.GOMAXPROCS(0), "threads to compute with")
	precision := fs.String("precision", "float32", "the linear layers' products: float32 (transformers' results), bfloat16 (1.5-2x as fast\nwith AVX512-BF16 or AMX; some captions differ) or bfloat16x3 (float32's accuracy from bfloat16 parts)")
	fs.IntVar(&o.concurrency, "concurrency", 1, "images (or batches) captioned at the same time")
	fs.IntVar(&o.batch, "batch", 1, "images captioned together in one batch (the same captions as one by one)")
	fs.IntVar(&o.maxPixels, "max-pixels", imageproc.DefaultMaxPixels, "largest image in pixels, checked before decoding")
	fs.StringVar(&o.format, "format", "text", "output: text, jsonl (one JSON object per image) or csv")
	asJSON := fs.Bool("json", false, "the same as -format jsonl")
	fs.StringVar(&o.write, "write", "", "write each caption beside its image as a file with this extension (photo.jpg -> photo.EXT)")
	fs.BoolVar(&o.overwrite, "overwrite", false, "with -write: replace existing caption files (by default images that have one are skipped)")
	fs.StringVar(&o.prefix, "prefix", "", "with -write: text put before each caption")
	fs.StringVar(&o.suffix, "suffix", "", "with -write: text put after each caption")
	var questions texts
	fs.Var(&questions, "question", "answer this `question` about each image (a question-answering checkpoint; repeatable: each image is encoded once for all)")
	var matches texts
	fs.Var(&matches, "match", "score this `text` against each image (an image-text matching checkpoint; repeatable)")
	translateID := fs.String("translate", "", "translate each caption with this MarianMT model (folder or hub id, e.g. Helsinki-NLP/opus-mt-en-de)")
	submit := fs.String("submit", "", "send the images as jobs to the workers of this NATS URL and print their results (see examples/worker)")
	creds := fs.String("creds", "", "with -submit: NATS credentials file")
	paths, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "caption: "+format+"\n", args...)
		return 2
	}
	if *asJSON {
		o.format = "jsonl"
	}
	switch {
	case len(paths) == 0:
		fs.Usage()
		return 2
	case o.threads < 1 || o.concurrency < 1 || o.batch < 1 || o.maxPixels < 1:
		return usage("-threads, -concurrency, -batch and -max-pixels must be at least 1")
	case o.format != "text" && o.format != "jsonl" && o.format != "csv":
		return usage("-format %q: want text, jsonl or csv", o.format)
	case len(questions) > 0 && len(matches) > 0:
		return usage("-question and -match ask for different checkpoints: give one")
	case slices.Contains(questions, ""):
		return usage("-question: give a question, not an empty text")
	case len(questions) > 1 && o.write != "":
		return usage("-write writes one answer beside each image: give one -question")
	case o.write != "" && len(matches) > 0:
		return usage("-write writes captions and answers, not matches")
	case o.write != "" && (strings.ContainsAny(o.write, `/\`) || strings.Trim(o.write, ".") == ""):
		return usage("-write %q: give an extension such as txt or caption", o.write)
	case (o.overwrite || o.prefix != "" || o.suffix != "") && o.write == "":
		return usage("-overwrite, -prefix and -suffix go with -write")
	case len(questions) > 0 && *prompt != "":
		return usage("-prompt does not apply to -question")
	}
	prec, err := tensor.ParsePrecision(*precision)
	if err != nil {
		return usage("-%v", err)
	}
	o.write = strings.TrimPrefix(o.write, ".")
	opts := []blip.Option{
		blip.MaxNewTokens(*maxNew), blip.MinLength(*minLength), blip.Beams(*beams),
		blip.LengthPenalty(*lengthPenalty), blip.RepetitionPenalty(*repetition), blip.NoRepeatNgramSize(*noRepeat),
	}
	if len(questions) == 0 {
		opts = append(opts, blip.Prompt(*prompt))
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "max-length" {
			opts = append(opts, blip.MaxLength(*maxLength))
		}
	})
	if *sample {
		opts = append(opts, blip.Sample(), blip.Temperature(*temperature), blip.TopK(*topK), blip.TopP(*topP))
		if *seed >= 0 {
			opts = append(opts, blip.Seed(uint64(*seed)))
		}
	}
	// Options out of range are one usage error, before any model is loaded.
	if err := blip.ValidateOptions(opts...); err != nil {
		return usage("%v", err)
	}
	o.job = task{questions: questions, matches: matches, opts: opts}
	if *submit != "" {
		if o.write != "" {
			return usage("-write does not apply to -submit")
		}
		if prec != tensor.Float32 {
			return usage("-precision does not apply to -submit: the workers choose theirs")
		}
		fo := fleet.Options{Prompt: *prompt, MaxNewTokens: *maxNew, MinLength: *minLength, NoRepeatNgramSize: *noRepeat}
		if *beams != 1 {
			fo.NumBeams = *beams
		}
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "max-length":
				fo.MaxLength = *maxLength
			case "length-penalty":
				fo.LengthPenalty = lengthPenalty
			case "repetition-penalty":
				fo.RepetitionPenalty = repetition
			}
		})
		if *sample {
			fo.DoSample, fo.Temperature, fo.TopK, fo.TopP = true, temperature, topK, topP
			if *seed >= 0 {
				s := uint64(*seed)
				fo.Seed = &s
			}
		}
		return submitAll(ctx, *submit, *creds, fo, o, expand(paths, stdin), stdout, stderr, &progress{w: stderr, on: tty})
	}
	runtime.GOMAXPROCS(o.threads)

	bar := &progress{w: stderr, on: tty}
	m, err := blip.LoadAny(ctx, o.model, blip.Threads(o.threads), blip.Revision(o.revision), blip.MaxPixels(o.maxPixels), blip.WithPrecision(prec),
		blip.Progress(func(file string, done, total int64) { bar.bytes(file, done, total) }))
	bar.clear()
	if err != nil {
		fmt.Fprintln(stderr, "caption:", err)
		return 1
	}
	defer m.Close()
	for _, note := range m.Notes() {
		fmt.Fprintln(stderr, "caption: note:", note)
	}
	if prec != tensor.Float32 && m.Kernel() == tensor.Float32.Kernel() {
		fmt.Fprintf(stderr, "caption: note: -precision %s runs the float32 kernels on this CPU (%s): it has no bfloat16 instructions faster than its float32 ones\n", prec, m.Kernel())
	}
	want := blip.Captioning
	switch {
	case len(questions) > 0:
		want = blip.QuestionAnswering
	case len(matches) > 0:
		want = blip.ImageTextMatching
	}
	if m.Task() != want {
		fmt.Fprintf(stderr, "caption: %s is a %s checkpoint; %s needs a %s one\n", o.model, m.Task(), map[blip.Task]string{
			blip.Captioning: "captioning", blip.QuestionAnswering: "-question", blip.ImageTextMatching: "-match"}[want], want)
		return 1
	}
	if len(matches) == 0 {
		if err := m.CheckOptions(opts...); err != nil {
			return usage("%v", err)
		}
	}
	if *translateID != "" {
		if want != blip.Captioning {
			return usage("-translate translates captions")
		}
		if o.translator, err = translate.LoadAny(ctx, *translateID, o.threads, hub.Options{Revision: o.revision}); err != nil {
			fmt.Fprintln(stderr, "caption:", err)
			return 1
		}
		defer o.translator.Close()
	}
	return captionAll(ctx, m, o, expand(paths, stdin), stdout, stderr, bar)
}

// captionAll describes the inputs, o.concurrency workers taking batches of o.batch, and
// prints the results in argument order as they become ready. It returns the exit status.
func captionAll(ctx context.Context, m *blip.Model, o options, inputs []input, stdout, stderr io.Writer, bar *progress) int {
	results := make([]result, len(inputs))
	ready := make([]chan struct{}, len(inputs))
	for i := range ready {
		ready[i] = make(chan struct{})
	}
	batch := o.batch
	if len(o.job.questions) > 0 || len(o.job.matches) > 0 {
		batch = 1 // batching shares caption decoding steps only
	}
	jobs := make(chan []int)
	var wg sync.WaitGroup
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for idx := range jobs {
				describeBatch(ctx, m, o, inputs, idx, results)
				for _, i := range idx {
					close(ready[i])
				}
			}
		}()
	}
	go func() {
		for lo := 0; lo < len(inputs); lo += batch {
			idx := make([]int, 0, batch)
			for i := lo; i < min(lo+batch, len(inputs)); i++ {
				idx = append(idx, i)
			}
			jobs <- idx
		}
		close(jobs)
	}()
	out := newPrinter(stdout, stderr, o.format, o.job, o.translator != nil)
	failed := false
	start := time.Now()
	for i := range inputs {
		<-ready[i]
		r := results[i]
		bar.clear()
		failed = failed || r.Error != ""
		out.print(r)
		if len(inputs) > 1 && i+1 < len(inputs) {
			bar.count(i+1, len(inputs), time.Since(start))
		}
	}
	wg.Wait()
	bar.clear()
	out.flush()
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "caption: interrupted")
		return 1
	}
	if failed {
		return 1
	}
	return 0
}

// describeBatch fills results for the inputs idx: each is skipped when -write finds its file,
// decoded on its own (an unreadable image fails alone), and the decodable ones are captioned
// together (or answered, or matched, one by one).
func describeBatch(ctx context.Context, m *blip.Model, o options, inputs []input, idx []int, results []result) {
	var imgs []image.Image
	var which []int
	for _, i := range idx {
		in := inputs[i]
		r := &results[i]
		*r = result{Image: in.name}
		if in.err != nil {
			r.Error = in.err.Error()
			continue
		}
		if o.write != "" {
			if in.data != nil {
				r.Error = "-write cannot put a caption file beside standard input"
				continue
			}
			r.path = sidecar(in.name, o.write)
			if _, err := os.Stat(r.path); err == nil && !o.overwrite {
				r.Skipped = true
				continue
			}
		}
		img, err := decode(m, in)
		if err != nil {
			r.Error = err.Error()
			continue
		}
		imgs, which = append(imgs, img), append(which, i)
	}
	if len(imgs) == 0 {
		return
	}
	if len(imgs) > 1 {
		if cs, err := m.CaptionBatch(ctx, imgs, o.job.opts...); err == nil {
			for k, i := range which {
				results[i].Caption, results[i].IDs = &cs[k].Text, cs[k].IDs
				finish(ctx, o, &results[i])
			}
			return
		}
		// One image's failure fails the batch: caption one by one to say which.
	}
	for k, i := range which {
		describe(ctx, m, imgs[k], o.job, &results[i])
		finish(ctx, o, &results[i])
	}
}

// finish translates a caption when -translate asks, and writes a successful result's sidecar
// file (the translation, when there is one) when -write asks for one.
func finish(ctx context.Context, o options, r *result) {
	if r.Error != "" {
		return
	}
	if o.translator != nil && r.Caption != nil {
		t, err := o.translator.Translate(ctx, []string{*r.Caption}, translate.Options{})
		if err != nil {
			r.Error = err.Error()
			return
		}
		r.Translation = &t[0].Text
	}
	if o.write == "" {
		return
	}
	text := r.Answer
	if text == nil {
		text = r.Caption
	}
	if r.Translation != nil {
		text = r.Translation
	}
	if err := writeAtomic(r.path, o.prefix+*text+o.suffix+"\n"); err != nil {
		r.Error = err.Error()
		return
	}
	r.Written = r.path
}

// sidecar is the caption file of an image: the same path with extension ext.
func sidecar(path, ext string) string {
	return strings.TrimSuffix(path, filepath.Ext(path)) + "." + ext
}

// writeAtomic writes text to path through a temporary file in the same folder, renamed into
// place: an interrupted run never leaves a partial caption file.
func writeAtomic(path, text string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// decode reads an input's image: from its bytes (standard input) or its file.
func decode(m *blip.Model, in input) (image.Image, error) {
	data := in.data
	if data == nil {
		var err error
		if data, err = os.ReadFile(in.name); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				return nil, pe.Err // the result names the file already
			}
			return nil, err
		}
	}
	return m.DecodeImage(bytes.NewReader(data))
}

// describe captions, answers or matches one decoded image into r.
func describe(ctx context.Context, m *blip.Model, img image.Image, job task, r *result) {
	switch {
	case len(job.questions) > 0:
		as, err := m.AnswerBatch(ctx, img, job.questions, job.opts...)
		if err != nil {
			if len(job.questions) == 1 {
				r.Question = job.questions[0]
			}
			r.Error = err.Error()
			return
		}
		for k := range as {
			a := result{Image: r.Image, Question: job.questions[k], Answer: &as[k].Text, IDs: as[k].IDs}
			if k == 0 {
				r.Question, r.Answer, r.IDs = a.Question, a.Answer, a.IDs
				continue
			}
			r.more = append(r.more, a)
		}
	case len(job.matches) > 0:
		ms, err := m.Match(ctx, img, job.matches...)
		if err != nil {
			r.Error = err.Error()
			return
		}
		r.Matches = make([]matchResult, len(ms))
		for i, mt := range ms {
			r.Matches[i] = matchResult{Text: mt.Text, ITMProb: mt.ITMProb, Cosine: mt.Cosine}
		}
	default:
		c, err := m.Caption(ctx, img, job.opts...)
		if err != nil {
			r.Error = err.Error()
			return
		}
		r.Caption, r.IDs = &c.Text, c.IDs
	}
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

// count shows done of total, the rate and the time left.
func (p *progress) count(done, total int, elapsed time.Duration) {
	rate := float64(done) / elapsed.Seconds()
	left := time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second)
	p.draw("captioned %d/%d, %.2f images/s, %v left", done, total, rate, left)
}

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

package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/imagesemantics/blipgo/blip"
	"github.com/imagesemantics/blipgo/imageproc"
	"github.com/imagesemantics/blipgo/tensor"
)

// Worker pulls jobs and publishes their results.
type Worker struct {
	Model *blip.Model
	JS    jetstream.JetStream
	Name  string // in each result, to tell workers apart
	// MaxImage bounds an image's bytes (inline, file or download) and MaxPixels its pixels,
	// as the web server's -max-upload and -max-pixels do.
	MaxImage  int64
	MaxPixels int
	// FetchTimeout bounds an image download; JobTimeout one job's work (0: none).
	FetchTimeout, JobTimeout time.Duration
	// AckWait is the consumer's (in-progress acks go out at a third of it).
	AckWait time.Duration
	// Limits bound a job's work (beams, lengths, texts to match); nil: blip.ServiceLimits(),
	// the web API's. A job past them is refused as its own fault.
	Limits *blip.Limits
	// MaxAttempts bounds how often a job is tried: a job delivered more often than this
	// without a result (each attempt failed for the worker's reasons, such as JobTimeout, or
	// its worker died on it, as one would on a job that crashes workers) gets an error result
	// and a dead letter instead of another attempt. 0: 5; negative: no bound.
	MaxAttempts int
	// Files is the folder jobs' paths are read from: a path relative to it, or an absolute
	// one beneath it when Files was opened by an absolute name; nil, the worker reads no
	// files and a job with a path is refused. Only regular files are read: a job naming a
	// FIFO, a device or a folder is refused without opening it (a FIFO's open would block the
	// worker past any timeout), and the root refuses paths and links that lead out of it.
	Files *os.Root
	// FetchPrivate lets URL jobs reach addresses that are not public: loopback, private,
	// link-local (the cloud's metadata service), shared, multicast and reserved ones (see
	// PublicAddr), for a fleet whose images are on an internal store. Without it the worker's
	// own client refuses to connect to them, checked on each address it dials, so a name
	// that resolves to one, or a redirect to one, is refused too: a job from the queue cannot
	// make the worker probe the network it runs in.
	FetchPrivate bool
	// HTTP fetches URL images; nil, the worker's own client (FetchPrivate applies to it).
	// A client given here is used as it is: what it may reach is its transport's business.
	HTTP    *http.Client
	Metrics *Metrics // may be nil

	clientOnce sync.Once
	client     *http.Client

	// crash, a test hook, is called before a job's ack; returning true drops the job there,
	// as a worker killed at that moment would.
	crash func(jobID string) bool
}

// Run takes jobs until ctx ends, then finishes the job in hand (within JobTimeout) and
// returns ctx's error. A job the worker cannot finish for its own reason is nak'ed for
// another worker.
func (w *Worker) Run(ctx context.Context) error {
	cons, err := w.JS.Consumer(ctx, JobsStream, WorkerConsumer)
	if err != nil {
		return fmt.Errorf("fleet: consumer %s: %w", WorkerConsumer, err)
	}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, nats.ErrConnectionClosed) {
				return err
			}
			time.Sleep(100 * time.Millisecond) // the server is away; the client reconnects
			continue
		}
		for msg := range batch.Messages() {
			// The job in hand finishes even when ctx ends (graceful stop), within JobTimeout.
			if w.process(context.WithoutCancel(ctx), msg) {
				return errCrashed
			}
		}
	}
	return ctx.Err()
}

// errCrashed ends Run when the crash hook fires.
var errCrashed = errors.New("fleet: worker crashed (test)")

// process runs one job and settles its message; it reports whether the crash hook dropped it.
func (w *Worker) process(ctx context.Context, msg jetstream.Msg) (crashed bool) {
	start := time.Now()
	// The job's work has JobTimeout; settling it (its result, its dead letter) does not, as a
	// job that ends near its limit must still be settled, but has a timeout of its own.
	work := ctx
	if w.JobTimeout > 0 {
		var cancel context.CancelFunc
		work, cancel = context.WithTimeout(ctx, w.JobTimeout)
		defer cancel()
	}
	// Tell the server the job is alive while it runs.
	stop := make(chan struct{})
	defer close(stop)
	if w.AckWait > 0 {
		go func() {
			t := time.NewTicker(w.AckWait / 3)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					msg.InProgress()
				}
			}
		}()
	}
	var job Job
	var res Result
	var err error
	if n, max := deliveries(msg), w.maxAttempts(); max > 0 && n > uint64(max) {
		err = jobFault(fmt.Errorf("given up after %d attempts without a result (each failed for its worker's reasons, or its worker died on it)", n-1))
		json.Unmarshal(msg.Data(), &job) // for its id and name, if it has them
		if !ValidID(job.ID) {
			job.ID = ""
		}
	} else {
		res, err = w.run(work, msg.Data(), &job)
	}
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	res.ID, res.Name, res.Worker, res.Seconds = job.ID, job.Name, w.Name, time.Since(start).Seconds()
	if p := w.Model.Precision(); p != tensor.Float32 {
		res.Precision = p.String()
	}
	switch {
	case err == nil:
	case isJobFault(err):
		res.Error = err.Error()
		if derr := w.deadLetter(ctx, msg, err); derr != nil {
			msg.Nak()
			w.Metrics.job("retried", start)
			return false
		}
	default: // the worker's reason: another try, here or elsewhere
		msg.NakWithDelay(time.Second)
		w.Metrics.job("retried", start)
		return false
	}
	if job.ID != "" {
		data, _ := json.Marshal(res)
		if _, perr := w.JS.Publish(ctx, ResultsSubject+"."+job.ID, data, jetstream.WithMsgID(job.ID)); perr != nil {
			msg.Nak() // the result is not safe: the job stays
			w.Metrics.job("retried", start)
			return false
		}
	}
	if w.crash != nil && w.crash(job.ID) {
		return true
	}
	if err != nil {
		msg.Term() // dead-lettered: never again
		w.Metrics.job("dead", start)
		return false
	}
	msg.DoubleAck(ctx)
	w.Metrics.job("done", start)
	return false
}

// settleTimeout bounds publishing a job's result or dead letter; past it the job is nak'ed,
// to be done again.
const settleTimeout = 30 * time.Second

// DefaultMaxAttempts is Worker.MaxAttempts when it is 0.
const DefaultMaxAttempts = 5

func (w *Worker) maxAttempts() int {
	if w.MaxAttempts == 0 {
		return DefaultMaxAttempts
	}
	return w.MaxAttempts
}

// deliveries is how many times the server has delivered msg, this time included (1 when the
// metadata cannot say).
func deliveries(msg jetstream.Msg) uint64 {
	if md, err := msg.Metadata(); err == nil {
		return md.NumDelivered
	}
	return 1
}

// deadLetter stores a failed job with its error in the dead-letter stream.
func (w *Worker) deadLetter(ctx context.Context, msg jetstream.Msg, cause error) error {
	m := nats.NewMsg(DeadSubject)
	m.Data = msg.Data()
	m.Header.Set(ErrorHeader, cause.Error())
	_, err := w.JS.PublishMsg(ctx, m)
	return err
}

// run does a job: parse, fetch, decode, compute. Errors that are the job's own are wrapped
// as such.
func (w *Worker) run(ctx context.Context, data []byte, job *Job) (Result, error) {
	if err := json.Unmarshal(data, job); err != nil {
		return Result{}, jobFault(fmt.Errorf("job is not valid JSON: %v", err))
	}
	if !ValidID(job.ID) {
		id := job.ID
		job.ID = "" // no result subject can be named after it
		return Result{}, jobFault(fmt.Errorf("job id %.40q: want 1 to 128 letters, digits, '-' or '_'", id))
	}
	lim := blip.ServiceLimits()
	if w.Limits != nil {
		lim = *w.Limits
	}
	texts := len(job.Match)
	if job.Question != "" {
		texts = max(texts, 1)
	}
	if err := lim.Check(texts, job.Options.BlipOptions()...); err != nil {
		return Result{}, jobFault(err)
	}
	raw, err := w.imageBytes(ctx, job)
	if err != nil {
		return Result{}, err
	}
	img, err := imageproc.DecodeBytes(raw, w.MaxPixels)
	if err != nil {
		return Result{}, jobFault(err)
	}
	r, err := w.compute(ctx, img, job)
	var ue *blip.UnsupportedError
	if errors.Is(err, blip.ErrOption) || errors.As(err, &ue) || errors.Is(err, imageproc.ErrImage) {
		return r, jobFault(err)
	}
	return r, err
}

// compute runs the model on a decoded image.
func (w *Worker) compute(ctx context.Context, img image.Image, job *Job) (Result, error) {
	opts := job.Options.BlipOptions()
	switch {
	case job.Question != "":
		a, err := w.Model.Answer(ctx, img, job.Question, opts...)
		if err != nil {
			return Result{}, err
		}
		return Result{Question: job.Question, Answer: &a.Text, IDs: a.IDs}, nil
	case len(job.Match) > 0:
		ms, err := w.Model.Match(ctx, img, job.Match...)
		if err != nil {
			return Result{}, err
		}
		r := Result{Matches: make([]Match, len(ms))}
		for i, m := range ms {
			r.Matches[i] = Match{Text: m.Text, ITMProb: m.ITMProb, Cosine: m.Cosine}
		}
		return r, nil
	}
	c, err := w.Model.Caption(ctx, img, opts...)
	if err != nil {
		return Result{}, err
	}
	return Result{Caption: &c.Text, IDs: c.IDs}, nil
}

// imageBytes reads a job's image within MaxImage bytes: inline, from a file, or downloaded.
func (w *Worker) imageBytes(ctx context.Context, job *Job) ([]byte, error) {
	set := 0
	for _, ok := range []bool{len(job.Image) > 0, job.Path != "", job.URL != ""} {
		if ok {
			set++
		}
	}
	if set != 1 {
		return nil, jobFault(errors.New("a job needs exactly one of image, path and url"))
	}
	tooBig := jobFault(fmt.Errorf("image larger than %d bytes", w.MaxImage))
	switch {
	case len(job.Image) > 0:
		if int64(len(job.Image)) > w.MaxImage {
			return nil, tooBig
		}
		return job.Image, nil
	case job.Path != "":
		f, err := w.openFile(job.Path)
		if err != nil {
			return nil, jobFault(err)
		}
		defer f.Close()
		return readLimited(f, w.MaxImage, tooBig)
	}
	ctx, cancel := context.WithTimeout(ctx, w.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, job.URL, nil)
	if err != nil || (req.URL.Scheme != "http" && req.URL.Scheme != "https") {
		return nil, jobFault(fmt.Errorf("url %.200q: want an http(s) URL", job.URL))
	}
	client := w.HTTP
	if client == nil {
		w.clientOnce.Do(func() { w.client = fetchClient(w.FetchPrivate) })
		client = w.client
	}
	resp, err := client.Do(req)
	var ne *NotPublicError
	switch {
	case errors.As(err, &ne):
		return nil, jobFault(fmt.Errorf("fetching %s: %w", job.URL, ne)) // refused anywhere: the job's
	case err != nil:
		return nil, fmt.Errorf("fetching %s: %w", job.URL, err) // the network's fault: retried
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500:
		return nil, fmt.Errorf("fetching %s: %s", job.URL, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, jobFault(fmt.Errorf("fetching %s: %s", job.URL, resp.Status))
	}
	return readLimited(resp.Body, w.MaxImage, tooBig)
}

// openFile opens a job's path in w.Files, a regular file only (see Worker.Files).
func (w *Worker) openFile(path string) (*os.File, error) {
	if w.Files == nil {
		return nil, fmt.Errorf("path %.200q: this worker reads no files (send the image's bytes or a URL)", path)
	}
	name := path
	if filepath.IsAbs(path) {
		rel, err := filepath.Rel(w.Files.Name(), path)
		if err != nil || !filepath.IsLocal(rel) {
			return nil, fmt.Errorf("path %.200q: not in the worker's files folder", path)
		}
		name = rel
	}
	// The errors name the job's path, and of os.Root's only what went wrong (not "statat").
	fail := func(err error) error {
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			err = pe.Err
		}
		return fmt.Errorf("path %.200q: %w", path, err)
	}
	info, err := w.Files.Stat(name)
	if err != nil {
		return nil, fail(err)
	}
	if !info.Mode().IsRegular() {
		return nil, fail(fmt.Errorf("%s, not a regular file", fileKind(info.Mode())))
	}
	// Between Stat and here the name could have come to mean another file: open it without
	// blocking (a FIFO's open would wait for a writer), and read only the file checked.
	f, err := w.Files.OpenFile(name, openNonblocking, 0)
	if err != nil {
		return nil, fail(err)
	}
	if got, err := f.Stat(); err != nil || !os.SameFile(info, got) {
		f.Close()
		return nil, fmt.Errorf("path %.200q: changed while it was opened", path)
	}
	return f, nil
}

// fileKind names what a file that is not a regular one is, for an error.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// readLimited reads r whole, or fails with tooBig past max bytes.
func readLimited(r io.Reader, max int64, tooBig error) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, tooBig
	}
	return data, nil
}

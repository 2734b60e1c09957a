// Package fleet runs blipgo as workers on a NATS JetStream work queue: jobs (an image and what
// to do with it) go into a work-queue stream, workers pull them, and results go into a
// results stream under a subject per job id, published with the job id as the message id.
//
// The guarantees: a job is acked only after its result's publish was acknowledged, so a
// worker that dies mid-job leaves the job to be redelivered (at-least-once processing); the
// results stream drops a second publish of the same job id within its duplicate window, and
// the submitter reads one result per id (exactly one result per job). A job that fails for its
// own reason (not an image, an option out of range, a task the model cannot do) goes to the
// dead-letter stream with its error, gets an error result, and is never retried; a job that
// fails for the worker's reason is redelivered, up to Worker.MaxAttempts tries in all (a job
// that times out everywhere, or kills its workers, then gets an error result as well).
//
// Streams and subjects:
//
//	BLIP_JOBS     work queue    blip.jobs            Job (JSON)
//	BLIP_RESULTS  limits        blip.results.<id>    Result (JSON)
//	BLIP_DEAD     limits        blip.dead            the Job, with header Blip-Error
package fleet

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/imagesemantics/blipgo/blip"
)

// Stream, subject and consumer names.
const (
	JobsStream     = "BLIP_JOBS"
	JobsSubject    = "blip.jobs"
	ResultsStream  = "BLIP_RESULTS"
	ResultsSubject = "blip.results" // + "." + job id
	DeadStream     = "BLIP_DEAD"
	DeadSubject    = "blip.dead"
	WorkerConsumer = "blip-workers"
	// ErrorHeader carries a dead job's error.
	ErrorHeader = "Blip-Error"
)

// Job is one unit of work: an image and what to do with it.
type Job struct {
	// ID names the job and its result: 1 to 128 letters, digits, '-' or '_' (a subject token).
	ID string `json:"id"`
	// Name is the submitter's name for the image (its path), echoed in the result.
	Name string `json:"name,omitempty"`
	// The image: its bytes, a path in the worker's files folder (Worker.Files; a worker
	// without one refuses paths), or an http(s) URL the worker fetches (within its size and
	// pixel limits and a timeout; from public addresses only unless Worker.FetchPrivate).
	// Exactly one is set.
	Image []byte `json:"image,omitempty"`
	Path  string `json:"path,omitempty"`
	URL   string `json:"url,omitempty"`
	// Options are the generation options (transformers' names); Question asks a
	// question-answering worker, Match scores texts on a matching worker; neither: a caption.
	Options  Options  `json:"options,omitzero"`
	Question string   `json:"question,omitempty"`
	Match    []string `json:"match,omitempty"`
}

// Options are a job's generation options; zero values keep the model's defaults.
type Options struct {
	Prompt            string   `json:"prompt,omitempty"`
	MaxLength         int      `json:"max_length,omitempty"`
	MaxNewTokens      int      `json:"max_new_tokens,omitempty"`
	MinLength         int      `json:"min_length,omitempty"`
	NumBeams          int      `json:"num_beams,omitempty"`
	LengthPenalty     *float64 `json:"length_penalty,omitempty"`
	RepetitionPenalty *float64 `json:"repetition_penalty,omitempty"`
	NoRepeatNgramSize int      `json:"no_repeat_ngram_size,omitempty"`
	DoSample          bool     `json:"do_sample,omitempty"`
	Temperature       *float64 `json:"temperature,omitempty"`
	TopK              *int     `json:"top_k,omitempty"`
	TopP              *float64 `json:"top_p,omitempty"`
	Seed              *uint64  `json:"seed,omitempty"`
}

// BlipOptions turns the options into blip's.
func (o Options) BlipOptions() []blip.Option {
	var opts []blip.Option
	if o.Prompt != "" {
		opts = append(opts, blip.Prompt(o.Prompt))
	}
	for _, c := range []struct {
		v   int
		set func(int) blip.Option
	}{{o.MaxLength, blip.MaxLength}, {o.MaxNewTokens, blip.MaxNewTokens}, {o.MinLength, blip.MinLength}, {o.NumBeams, blip.Beams}, {o.NoRepeatNgramSize, blip.NoRepeatNgramSize}} {
		if c.v != 0 {
			opts = append(opts, c.set(c.v))
		}
	}
	for _, c := range []struct {
		v   *float64
		set func(float64) blip.Option
	}{{o.LengthPenalty, blip.LengthPenalty}, {o.RepetitionPenalty, blip.RepetitionPenalty}, {o.Temperature, blip.Temperature}, {o.TopP, blip.TopP}} {
		if c.v != nil {
			opts = append(opts, c.set(*c.v))
		}
	}
	if o.DoSample {
		opts = append(opts, blip.Sample())
	}
	if o.TopK != nil {
		opts = append(opts, blip.TopK(*o.TopK))
	}
	if o.Seed != nil {
		opts = append(opts, blip.Seed(*o.Seed))
	}
	return opts
}

// Result is a job's outcome: what the worker made of it, or its error.
type Result struct {
	ID       string  `json:"id"`
	Name     string  `json:"name,omitempty"`
	Caption  *string `json:"caption,omitempty"`
	Question string  `json:"question,omitempty"`
	Answer   *string `json:"answer,omitempty"`
	Matches  []Match `json:"matches,omitempty"`
	IDs      []int   `json:"ids,omitempty"`
	Error    string  `json:"error,omitempty"`
	Worker   string  `json:"worker,omitempty"`
	// Precision is the worker model's precision where it is not float32 (transformers'
	// results): "bfloat16" or "bfloat16x3", so that a fleet of mixed workers says which
	// results came from the opt-ins.
	Precision string  `json:"precision,omitempty"`
	Seconds   float64 `json:"seconds,omitempty"`
}

// Match is one text's score in a Result.
type Match struct {
	Text    string  `json:"text"`
	ITMProb float32 `json:"itm_prob"`
	Cosine  float32 `json:"cosine"`
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// ValidID reports whether id can name a job (and its result subject).
func ValidID(id string) bool { return idPattern.MatchString(id) }

// StreamsConfig sizes the streams.
type StreamsConfig struct {
	// MaxJobs bounds the jobs waiting (0: unbounded); past it, publishing a job fails: the
	// submitter is told, and no accepted job is dropped.
	MaxJobs int64
	// Dedup is the window in which a second publish of a job or result id is dropped (default
	// 24 hours: a resumed submission within it cannot double a job).
	Dedup time.Duration
	// AckWait is how long a worker may hold a job without a word before it is redelivered
	// (default 60 s; workers send in-progress acks well within it).
	AckWait time.Duration
	// Replicas of each stream in a cluster (default 1).
	Replicas int
}

func (c *StreamsConfig) fill() {
	if c.Dedup <= 0 {
		c.Dedup = 24 * time.Hour
	}
	if c.AckWait <= 0 {
		c.AckWait = time.Minute
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
}

// Setup creates or updates the streams and the workers' consumer, file-stored.
func Setup(ctx context.Context, js jetstream.JetStream, cfg StreamsConfig) error {
	cfg.fill()
	maxJobs := cfg.MaxJobs
	if maxJobs <= 0 {
		maxJobs = -1
	}
	for _, sc := range []jetstream.StreamConfig{
		{Name: JobsStream, Subjects: []string{JobsSubject}, Retention: jetstream.WorkQueuePolicy, MaxMsgs: maxJobs,
			Discard: jetstream.DiscardNew, Duplicates: cfg.Dedup, Storage: jetstream.FileStorage, Replicas: cfg.Replicas},
		{Name: ResultsStream, Subjects: []string{ResultsSubject + ".*"}, Retention: jetstream.LimitsPolicy,
			Duplicates: cfg.Dedup, Storage: jetstream.FileStorage, Replicas: cfg.Replicas},
		{Name: DeadStream, Subjects: []string{DeadSubject}, Retention: jetstream.LimitsPolicy,
			Storage: jetstream.FileStorage, Replicas: cfg.Replicas},
	} {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("fleet: stream %s: %w", sc.Name, err)
		}
	}
	_, err := js.CreateOrUpdateConsumer(ctx, JobsStream, jetstream.ConsumerConfig{
		Durable: WorkerConsumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: cfg.AckWait,
		MaxDeliver: -1, MaxAckPending: 1000,
	})
	if err != nil {
		return fmt.Errorf("fleet: consumer %s: %w", WorkerConsumer, err)
	}
	return nil
}

// jobError marks a failure that is the job's own (it would fail again anywhere): the job is
// dead-lettered, not retried.
type jobError struct{ err error }

func (e *jobError) Error() string { return e.err.Error() }
func (e *jobError) Unwrap() error { return e.err }

func jobFault(err error) error { return &jobError{err} }

func isJobFault(err error) bool {
	var je *jobError
	return errors.As(err, &je)
}

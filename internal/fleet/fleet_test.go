package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/imagesemantics/blipgo/blip"
	"github.com/imagesemantics/blipgo/internal/golden"
)

// cluster is an embedded JetStream server on loopback with the streams set up.
type cluster struct {
	t    *testing.T
	dir  string
	srv  *server.Server
	addr string // where the server listens: a port of its own at the first start, kept at restarts
}

func newCluster(t *testing.T, cfg StreamsConfig) *cluster {
	c := &cluster{t: t, dir: t.TempDir()}
	c.start()
	js := c.connect()
	if err := Setup(context.Background(), js, cfg); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *cluster) start() {
	if c.addr == "" {
		c.addr = "127.0.0.1:0"
	}
	srv, err := StartEmbedded(c.dir, c.addr)
	if err != nil {
		c.t.Fatal(err)
	}
	c.srv, c.addr = srv, srv.Addr().String()
	c.t.Cleanup(srv.Shutdown)
}

// connect opens a client connection that reconnects to the (restarted) server, with opts
// besides.
func (c *cluster) connect(opts ...nats.Option) jetstream.JetStream {
	nc, err := nats.Connect(c.srv.ClientURL(), append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatal(err)
	}
	return js
}

// tinyModel is the golden captioning model blip-tiny-b.
func tinyModel(t *testing.T) *blip.Model { return goldenModel(t, "blip-tiny-b") }

// goldenModel loads the golden model name, closed when the test ends.
func goldenModel(t *testing.T, name string) *blip.Model {
	m, err := blip.Load(golden.Path("models", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// jobsFor makes n caption jobs over the golden images, with lengths varied (and a prompt for
// every third) so that every job asks something different, and the captions Caption gives
// for each.
func jobsFor(t *testing.T, m *blip.Model, n int) ([]Job, []string) {
	var images [][]byte
	for _, f := range []string{"chelsea.png", "coffee.gif", "astronaut.png", "wide_1200x60.png", "tiny_7x5.png"} {
		b, err := os.ReadFile(golden.Path("images", f))
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, b)
	}
	jobs, want := make([]Job, n), make([]string, n)
	for i := range jobs {
		img := images[i%len(images)]
		opts := Options{MaxNewTokens: 1 + i/len(images)}
		if i%3 == 1 {
			opts.Prompt = "a picture of"
		}
		jobs[i] = Job{ID: JobID(img, opts, "", nil), Name: fmt.Sprintf("job%d", i), Image: img, Options: opts}
		decoded, err := m.DecodeImage(bytes.NewReader(img))
		if err != nil {
			t.Fatal(err)
		}
		// The options as blip's, written out rather than through BlipOptions, which the
		// worker's side runs.
		bo := []blip.Option{blip.MaxNewTokens(opts.MaxNewTokens)}
		if opts.Prompt != "" {
			bo = append(bo, blip.Prompt(opts.Prompt))
		}
		c, err := m.Caption(context.Background(), decoded, bo...)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = c.Text
	}
	return jobs, want
}

func newWorker(m *blip.Model, js jetstream.JetStream, name string) *Worker {
	return &Worker{Model: m, JS: js, Name: name, MaxImage: 8 << 20, MaxPixels: 50_000_000, FetchTimeout: 5 * time.Second, AckWait: 2 * time.Second}
}

func checkResults(t *testing.T, js jetstream.JetStream, jobs []Job, results []Result, want []string) {
	t.Helper()
	for i, r := range results {
		if r.Error != "" || r.Caption == nil || *r.Caption != want[i] || r.ID != jobs[i].ID || r.Name != jobs[i].Name {
			t.Fatalf("job %d: result %+v, want caption %q", i, r, want[i])
		}
	}
	s, err := js.Stream(context.Background(), ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	unique := map[string]bool{}
	for _, j := range jobs {
		unique[j.ID] = true
	}
	if int(info.State.Msgs) != len(unique) {
		t.Errorf("the results stream holds %d results for %d jobs: some twice", info.State.Msgs, len(unique))
	}
}

// TestFleet: three workers on 200 jobs; one is killed mid-job (after publishing its result,
// before acking: the job is redelivered and its second result dropped as a duplicate) and
// restarted. Every result is present once and equals what Caption gives.
func TestFleet(t *testing.T) {
	c := newCluster(t, StreamsConfig{AckWait: 2 * time.Second})
	m := tinyModel(t)
	jobs, want := jobsFor(t, m, 200)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var crashed atomic.Bool
	run := func(w *Worker) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.Run(ctx)
		}()
	}
	for i := 0; i < 2; i++ {
		run(newWorker(m, c.connect(), fmt.Sprintf("w%d", i)))
	}
	victim := newWorker(m, c.connect(), "victim")
	seen := 0
	victim.crash = func(string) bool {
		seen++
		return seen == 5 && crashed.CompareAndSwap(false, true)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := victim.Run(ctx); err == errCrashed {
			run(newWorker(m, c.connect(), "restarted")) // as a supervisor would
		}
	}()
	sctx, scancel := context.WithTimeout(ctx, 2*time.Minute)
	defer scancel()
	results, err := Submit(sctx, c.connect(), jobs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !crashed.Load() {
		t.Error("the victim never crashed")
	}
	checkResults(t, c.connect(), jobs, results, want)
	cancel()
	wg.Wait()
}

// TestResultPrecision: a worker on a bfloat16 model says so in its results; a float32 one
// leaves the field out.
func TestResultPrecision(t *testing.T) {
	c := newCluster(t, StreamsConfig{AckWait: 2 * time.Second})
	m := tinyModel(t)
	bf, err := blip.Load(golden.Path("models", "blip-tiny-b"), blip.BFloat16())
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	for _, w := range []struct {
		m    *blip.Model
		want string
	}{{m, ""}, {bf, "bfloat16"}} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		done := make(chan struct{})
		go func() {
			defer close(done)
			newWorker(w.m, c.connect(), "w").Run(ctx)
		}()
		jobs, _ := jobsFor(t, m, 2)
		for i := range jobs { // ids of their own, so that the second worker gets jobs too
			jobs[i].ID += "-" + w.want
		}
		results, err := Submit(ctx, c.connect(), jobs, nil)
		cancel()
		<-done
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			if r.Error != "" || r.Precision != w.want {
				t.Errorf("result %+v: precision %q, want %q", r, r.Precision, w.want)
			}
		}
	}
}

// TestPoisonJob: a job that is not an image gets an error result and lands in the dead-letter
// stream with its error after one attempt; it is not redelivered.
func TestPoisonJob(t *testing.T) {
	c := newCluster(t, StreamsConfig{AckWait: time.Second})
	m := tinyModel(t)
	js := c.connect()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var attempts atomic.Int32
	w := newWorker(m, c.connect(), "w")
	w.crash = func(string) bool { attempts.Add(1); return false }
	reg := prometheus.NewRegistry()
	w.Metrics = NewMetrics(reg, nil)
	go w.Run(ctx)
	bad := []byte("this is not an image")
	job := Job{ID: JobID(bad, Options{}, "", nil), Name: "notes.txt", Image: bad}
	sctx, scancel := context.WithTimeout(ctx, time.Minute)
	defer scancel()
	results, err := Submit(sctx, js, []Job{job}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Error == "" || !strings.Contains(results[0].Error, "unknown format") {
		t.Errorf("result %+v", results[0])
	}
	dead, err := js.Stream(ctx, DeadStream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := dead.GetLastMsgForSubject(ctx, DeadSubject)
	if err != nil || !strings.Contains(msg.Header.Get(ErrorHeader), "unknown format") || !bytes.Contains(msg.Data, []byte(job.ID)) {
		t.Fatalf("dead letter %v, %v", msg, err)
	}
	time.Sleep(2500 * time.Millisecond) // past AckWait: a redelivery would have come
	if n := attempts.Load(); n != 1 {
		t.Errorf("the poison job was attempted %d times", n)
	}
	jobsStream, _ := js.Stream(ctx, JobsStream)
	if info, _ := jobsStream.Info(ctx); info.State.Msgs != 0 {
		t.Errorf("%d jobs still queued", info.State.Msgs)
	}
	if n := testutil.ToFloat64(w.Metrics.jobs.WithLabelValues("dead")); n != 1 {
		t.Errorf("metrics count %v dead jobs", n)
	}
}

// TestMaxAttempts: a job that fails for its worker's reason every time (here, a job timeout
// no job can meet) is tried MaxAttempts times, then gets an error result and a dead letter
// instead of going round the workers for good.
func TestMaxAttempts(t *testing.T) {
	c := newCluster(t, StreamsConfig{AckWait: 2 * time.Second})
	js := c.connect()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorker(tinyModel(t), c.connect(), "w")
	w.JobTimeout, w.MaxAttempts = time.Nanosecond, 2
	w.Metrics = NewMetrics(prometheus.NewRegistry(), nil)
	go w.Run(ctx)
	png := chelseaPNG(t)
	job := Job{ID: "slow", Name: "chelsea.png", Image: png}
	sctx, scancel := context.WithTimeout(ctx, time.Minute)
	defer scancel()
	results, err := Submit(sctx, js, []Job{job}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := results[0]; r.Name != job.Name || !strings.Contains(r.Error, "given up after 2 attempts") {
		t.Errorf("result %+v", r)
	}
	// The worker counts the job dead after its result is out: wait for it.
	for deadline := time.Now().Add(10 * time.Second); testutil.ToFloat64(w.Metrics.jobs.WithLabelValues("dead")) == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := testutil.ToFloat64(w.Metrics.jobs.WithLabelValues("retried")); n != 2 {
		t.Errorf("%v attempts retried, want 2", n)
	}
	if n := testutil.ToFloat64(w.Metrics.jobs.WithLabelValues("dead")); n != 1 {
		t.Errorf("%v dead jobs, want 1", n)
	}
	dead, _ := js.Stream(ctx, DeadStream)
	if msg, err := dead.GetLastMsgForSubject(ctx, DeadSubject); err != nil || !strings.Contains(msg.Header.Get(ErrorHeader), "given up") {
		t.Errorf("dead letter %v, %v", msg, err)
	}
}

// TestQuestionAndMatchJobs: a question job on a VQA worker gets the answer Answer gives, a
// match job on an ITM worker the scores Match gives; a question sent to a captioning worker
// is the job's own fault (an error result naming what the checkpoint cannot do, at the first
// attempt, and a dead letter), not a worker's failure to retry elsewhere. The VQA worker has
// no AckWait: it sends no in-progress acks, and must still run.
func TestQuestionAndMatchJobs(t *testing.T) {
	c := newCluster(t, StreamsConfig{AckWait: 2 * time.Second})
	png := chelseaPNG(t)
	vqa, itm := goldenModel(t, "blip-tiny-vqa"), goldenModel(t, "blip-tiny-itm")
	img, err := vqa.DecodeImage(bytes.NewReader(png))
	if err != nil {
		t.Fatal(err)
	}
	const question = "what is in the picture?"
	texts := []string{"a cat on a blanket", "a cup of coffee"}
	answer, err := vqa.Answer(context.Background(), img, question)
	if err != nil {
		t.Fatal(err)
	}
	matches, err := itm.Match(context.Background(), img, texts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// submit runs w alone on job and returns its result.
	submit := func(w *Worker, job Job) Result {
		t.Helper()
		stop := runWorker(ctx, w)
		defer stop()
		results, err := Submit(ctx, c.connect(), []Job{job}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return results[0]
	}

	w := newWorker(vqa, c.connect(), "vqa")
	w.AckWait = 0
	r := submit(w, Job{ID: "question", Image: png, Question: question})
	if r.Error != "" || r.Answer == nil || *r.Answer != answer.Text || r.Question != question || !slices.Equal(r.IDs, answer.IDs) {
		t.Errorf("question job: %+v, want answer %q, ids %v", r, answer.Text, answer.IDs)
	}

	r = submit(newWorker(itm, c.connect(), "itm"), Job{ID: "match", Image: png, Match: texts})
	if r.Error != "" || len(r.Matches) != len(matches) {
		t.Fatalf("match job: %+v, want %d matches", r, len(matches))
	}
	for i, m := range matches {
		if want := (Match{Text: m.Text, ITMProb: m.ITMProb, Cosine: m.Cosine}); r.Matches[i] != want {
			t.Errorf("match job, text %d: %+v, want %+v", i, r.Matches[i], want)
		}
	}

	var attempts atomic.Int32
	w = newWorker(tinyModel(t), c.connect(), "captioner")
	w.crash = func(string) bool { attempts.Add(1); return false }
	r = submit(w, Job{ID: "question-to-captioner", Image: png, Question: question})
	if want := "Answer needs a BlipForQuestionAnswering checkpoint"; !strings.Contains(r.Error, want) {
		t.Errorf("question job on a captioning worker: error %q, want %q", r.Error, want)
	}
	if n := attempts.Load(); n != 1 {
		t.Errorf("the question job on a captioning worker was attempted %d times, want 1", n)
	}
	dead, err := c.connect().Stream(ctx, DeadStream)
	if err != nil {
		t.Fatal(err)
	}
	if msg, err := dead.GetLastMsgForSubject(ctx, DeadSubject); err != nil || !bytes.Contains(msg.Data, []byte("question-to-captioner")) {
		t.Errorf("dead letter %v, %v", msg, err)
	}
}

// TestWorkerAcrossRestart: a worker whose server goes away keeps going, its fetches failing
// meanwhile (its connection buffers nothing while it reconnects, so that they fail at once
// rather than wait in the buffer), and takes the jobs submitted after the server is back.
func TestWorkerAcrossRestart(t *testing.T) {
	c := newCluster(t, StreamsConfig{AckWait: 2 * time.Second})
	m := tinyModel(t)
	jobs, want := jobsFor(t, m, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stop := runWorker(ctx, newWorker(m, c.connect(nats.ReconnectBufSize(-1)), "w"))
	defer stop()
	results, err := Submit(ctx, c.connect(), jobs[:1], nil)
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, c.connect(), jobs[:1], results, want[:1])
	c.srv.Shutdown()
	c.srv.WaitForShutdown()
	time.Sleep(2500 * time.Millisecond) // fetches fail while the server is away
	c.start()
	sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
	defer scancel()
	results, err = Submit(sctx, c.connect(), jobs[1:], nil)
	if err != nil {
		t.Fatalf("a job submitted after the restart: %v", err)
	}
	if r := results[0]; r.Caption == nil || *r.Caption != want[1] {
		t.Errorf("after the restart: %+v, want caption %q", r, want[1])
	}
}

// TestSetupDefaults: streams set up with a zero StreamsConfig get the documented defaults: no
// bound on waiting jobs, a 24-hour dedup window, one replica, a one-minute AckWait.
func TestSetupDefaults(t *testing.T) {
	c := newCluster(t, StreamsConfig{})
	js := c.connect()
	ctx := context.Background()
	for _, name := range []string{JobsStream, ResultsStream, DeadStream} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		cfg := s.CachedInfo().Config
		if cfg.Replicas != 1 || cfg.MaxMsgs != -1 || (name != DeadStream && cfg.Duplicates != 24*time.Hour) {
			t.Errorf("stream %s: replicas %d, max messages %d, dedup window %v", name, cfg.Replicas, cfg.MaxMsgs, cfg.Duplicates)
		}
	}
	cons, err := js.Consumer(ctx, JobsStream, WorkerConsumer)
	if err != nil {
		t.Fatal(err)
	}
	if got := cons.CachedInfo().Config.AckWait; got != time.Minute {
		t.Errorf("consumer AckWait %v, want 1m", got)
	}
}

// TestSubmitTimeout: a submitter whose context ends while it waits for results (no worker
// runs) gets the context's error.
func TestSubmitTimeout(t *testing.T) {
	c := newCluster(t, StreamsConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := Submit(ctx, c.connect(), []Job{{ID: "unanswered", Image: chelseaPNG(t)}}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Submit with no worker past its deadline: %v, want %v", err, context.DeadlineExceeded)
	}
}

// TestStartEmbeddedPorts: port 0 is a free port of the system's choosing, so that two servers
// started so run side by side; a malformed listen address is refused, named.
func TestStartEmbeddedPorts(t *testing.T) {
	for range 2 {
		srv, err := StartEmbedded(t.TempDir(), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
	}
	for _, listen := range []string{"127.0.0.1", "127.0.0.1:http-ish"} {
		if _, err := StartEmbedded(t.TempDir(), listen); err == nil || !strings.Contains(err.Error(), listen) {
			t.Errorf("listen %q: %v", listen, err)
		}
	}
}

// TestMetrics: jobs are counted by outcome and only done ones as images; the queue's depth is
// read at each scrape where a reader is given, and absent where not; a nil *Metrics records
// nothing.
func TestMetrics(t *testing.T) {
	depth := 7.0
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, func() float64 { return depth })
	for _, outcome := range []string{"done", "dead", "retried", "done", "done"} {
		m.job(outcome, time.Now())
	}
	for outcome, want := range map[string]float64{"done": 3, "dead": 1, "retried": 1} {
		if got := testutil.ToFloat64(m.jobs.WithLabelValues(outcome)); got != want {
			t.Errorf("%s jobs %v, want %v", outcome, got, want)
		}
	}
	if got := testutil.ToFloat64(m.images); got != 3 {
		t.Errorf("%v images, want 3 (the done jobs)", got)
	}
	depth = 3
	if n, err := testutil.GatherAndCount(reg, "blip_queue_depth"); n != 1 || err != nil {
		t.Fatalf("blip_queue_depth: %d series, %v", n, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader("# HELP blip_queue_depth Jobs waiting in the work queue.\n# TYPE blip_queue_depth gauge\nblip_queue_depth 3\n"), "blip_queue_depth"); err != nil {
		t.Error(err)
	}
	bare := prometheus.NewRegistry()
	NewMetrics(bare, nil)
	if n, err := testutil.GatherAndCount(bare, "blip_queue_depth"); n != 0 || err != nil {
		t.Errorf("without a depth reader: %d blip_queue_depth series, %v", n, err)
	}
	var none *Metrics
	none.job("done", time.Now())
}

// TestJobLimits: a job asking for more work than the worker's limits (by default the web
// API's) is refused as its own fault, before its image is read; a worker with wider limits
// does it.
func TestJobLimits(t *testing.T) {
	c := newCluster(t, StreamsConfig{AckWait: 2 * time.Second})
	m := tinyModel(t)
	png := chelseaPNG(t)
	jobs := []Job{
		{ID: "beams", Image: png, Options: Options{NumBeams: 9}},
		{ID: "length", Image: png, Options: Options{MaxNewTokens: 129}},
		{ID: "texts", Path: "never-read.png", Match: make([]string, 33)},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := runWorker(ctx, newWorker(m, c.connect(), "w"))
	sctx, scancel := context.WithTimeout(ctx, time.Minute)
	defer scancel()
	results, err := Submit(sctx, c.connect(), jobs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"beams 9 is past this service's limit of 8", "max_new_tokens 129", "texts 33"} {
		if !strings.Contains(results[i].Error, want) {
			t.Errorf("%s: error %q, want %q", jobs[i].ID, results[i].Error, want)
		}
	}
	stop()
	wide := newWorker(m, c.connect(), "wide")
	wide.Limits = &blip.Limits{Beams: 9}
	go wide.Run(ctx)
	results, err = Submit(sctx, c.connect(), []Job{{ID: "beams-wide", Image: png, Options: Options{NumBeams: 9, MaxNewTokens: 3}}}, nil)
	if err != nil || results[0].Error != "" || results[0].Caption == nil {
		t.Errorf("within wider limits: %+v %v", results, err)
	}
}

// TestRestartAndFullQueue: jobs accepted before the server restarts are done after it; a full
// queue refuses jobs (the submitter is told) without losing the ones it accepted, and a second
// submission sends the rest without doubling any.
func TestRestartAndFullQueue(t *testing.T) {
	c := newCluster(t, StreamsConfig{AckWait: 2 * time.Second, MaxJobs: 6})
	m := tinyModel(t)
	jobs, want := jobsFor(t, m, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sctx, scancel := context.WithTimeout(ctx, 2*time.Minute)
	defer scancel()
	// No worker yet: six jobs fit, the seventh waits for room until the submitter gives up.
	short, shortCancel := context.WithTimeout(ctx, time.Second)
	defer shortCancel()
	if _, err := Submit(short, c.connect(), jobs, nil); err == nil || !strings.Contains(err.Error(), "job 7 of 10") || !strings.Contains(err.Error(), "full") {
		t.Fatalf("full queue: %v", err)
	}
	// The server restarts; its stored jobs survive.
	c.srv.Shutdown()
	c.srv.WaitForShutdown()
	c.start()
	js := c.connect()
	jobsStream, err := js.Stream(ctx, JobsStream)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := jobsStream.Info(ctx); info.State.Msgs != 6 {
		t.Fatalf("%d jobs after the restart, want 6", info.State.Msgs)
	}
	for i := 0; i < 2; i++ {
		go newWorker(m, c.connect(), fmt.Sprintf("w%d", i)).Run(ctx)
	}
	results, err := Submit(sctx, js, jobs, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkResults(t, js, jobs, results, want)
	// Resubmitted, everything is found without a new job.
	again, err := Submit(sctx, js, jobs, nil)
	if err != nil || !slices.EqualFunc(again, results, func(a, b Result) bool { return *a.Caption == *b.Caption }) {
		t.Errorf("resubmission: %v", err)
	}
	checkResults(t, js, jobs, again, want)
}

// TestImageSources: a job's image comes inline, from a path in the worker's files folder or
// from a URL; a missing file, a 404 and an image over the size limit are the job's own faults,
// dead-lettered with their errors, and so is whatever leaves the worker's policy: a path
// outside its folder (absolute, climbing out, or through a link that leads out), a folder
// rather than a file, a path sent to a worker with no folder, and a URL on a loopback address
// (by number or by a name that resolves to one) for a worker without FetchPrivate.
func TestImageSources(t *testing.T) {
	c := newCluster(t, StreamsConfig{AckWait: 2 * time.Second})
	m := tinyModel(t)
	png := chelseaPNG(t)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chelsea.png":
			w.Write(png)
		case "/500":
			http.Error(w, "the server's own trouble", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	defer web.Close()
	dir, err := filepath.Abs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"chelsea.png": png, "sub/chelsea.png": png} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(t.TempDir(), "outside.png")
	os.WriteFile(outside, png, 0o644)
	if err := os.Symlink(outside, filepath.Join(dir, "link.png")); err != nil {
		t.Fatal(err)
	}
	files := openRoot(t, dir)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A worker with the folder and private addresses allowed, and one with neither, each
	// running alone for the jobs that are its own (the results name the worker).
	open := newWorker(m, c.connect(), "open")
	open.MaxImage, open.Files, open.FetchPrivate = int64(len(png)), files, true
	open.MaxAttempts = 2 // a server's error is retried, not the job's fault: twice here
	closed := newWorker(m, c.connect(), "closed")
	closed.MaxImage = int64(len(png))
	decoded, _ := m.DecodeImage(bytes.NewReader(png))
	want, err := m.Caption(ctx, decoded)
	if err != nil {
		t.Fatal(err)
	}
	big := append(append([]byte(nil), png...), 0)
	localhost := strings.Replace(web.URL, "127.0.0.1", "localhost", 1)
	cases := []struct {
		worker *Worker
		job    Job
		err    string // "": the caption
	}{
		{open, Job{ID: "inline", Image: png}, ""},
		{open, Job{ID: "path", Path: "chelsea.png"}, ""},
		{open, Job{ID: "path-sub", Path: "sub/chelsea.png"}, ""},
		{open, Job{ID: "path-abs", Path: filepath.Join(dir, "sub", "chelsea.png")}, ""},
		{open, Job{ID: "url", URL: web.URL + "/chelsea.png"}, ""},
		{open, Job{ID: "missing-path", Path: "no-such-file.png"}, `path "no-such-file.png": no such file`},
		{open, Job{ID: "missing-url", URL: web.URL + "/nothing.png"}, "404"},
		{open, Job{ID: "server-error", URL: web.URL + "/500"}, "given up after 2 attempts"},
		{open, Job{ID: "not-http", URL: "ftp://example.com/chelsea.png"}, "want an http(s) URL"},
		{open, Job{ID: "bad-url", URL: "http://[::1/chelsea.png"}, "want an http(s) URL"},
		{open, Job{ID: "too-big", Image: big}, "larger than"},
		{open, Job{ID: "two-sources", Image: png, Path: "x.png"}, "exactly one of"},
		{open, Job{ID: "abs-outside", Path: outside}, "not in the worker's files folder"},
		{open, Job{ID: "climbing", Path: "../outside.png"}, `path "../outside.png": path escapes`},
		{open, Job{ID: "link-out", Path: "link.png"}, `path "link.png": path escapes`},
		{open, Job{ID: "folder", Path: "sub"}, `path "sub": a folder, not a regular file`},
		{closed, Job{ID: "no-folder", Path: "chelsea.png"}, "reads no files"},
		{closed, Job{ID: "loopback", URL: web.URL + "/chelsea.png"}, "127.0.0.1 is not a public address"},
		{closed, Job{ID: "loopback-name", URL: localhost + "/chelsea.png"}, "is not a public address"},
		{closed, Job{ID: "closed-inline", Image: png}, ""},
	}
	var jobs []Job
	for _, tc := range cases {
		jobs = append(jobs, tc.job)
	}
	split := 0
	for split < len(cases) && cases[split].worker == open {
		split++
	}
	run := func(w *Worker, jobs []Job) []Result {
		// The worker stops before the next one starts: a fetch in flight would take its job.
		defer runWorker(ctx, w)()
		sctx, scancel := context.WithTimeout(ctx, time.Minute)
		defer scancel()
		results, err := Submit(sctx, c.connect(), jobs, nil)
		if err != nil {
			t.Fatal(err)
		}
		return results
	}
	results := append(run(open, jobs[:split]), run(closed, jobs[split:])...)
	dead := 0
	for i, r := range results {
		tc := cases[i]
		switch {
		case r.Worker != tc.worker.Name:
			t.Errorf("%s: taken by %q, want %q", tc.job.ID, r.Worker, tc.worker.Name)
		case tc.err == "" && (r.Error != "" || r.Caption == nil || *r.Caption != want.Text):
			t.Errorf("%s: %+v, want the caption %q", tc.job.ID, r, want.Text)
		case tc.err != "" && !strings.Contains(r.Error, tc.err):
			t.Errorf("%s: error %q, want %q", tc.job.ID, r.Error, tc.err)
		}
		if tc.err != "" {
			dead++
		}
	}
	deadStream, _ := c.connect().Stream(ctx, DeadStream)
	if info, _ := deadStream.Info(ctx); info.State.Msgs != uint64(dead) {
		t.Errorf("%d dead letters, want %d", info.State.Msgs, dead)
	}
}

// chelseaPNG is the bytes of the golden chelsea.png.
func chelseaPNG(t *testing.T) []byte {
	t.Helper()
	png, err := os.ReadFile(golden.Path("images", "chelsea.png"))
	if err != nil {
		t.Fatal(err)
	}
	return png
}

// runWorker runs w until the returned stop is called; stop returns once Run has (a fetch in
// flight may still take a job until then).
func runWorker(ctx context.Context, w *Worker) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { w.Run(ctx); close(stopped) }()
	return func() { cancel(); <-stopped }
}

// openRoot opens dir as a worker's files folder, closed when the test ends.
func openRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return root
}

// TestRedirectChecked: a redirect's connection goes through the same check as the first: a
// client that may dial only the first server does not follow its redirect to the second.
func TestRedirectChecked(t *testing.T) {
	second := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("image")) }))
	defer second.Close()
	first := httptest.NewServer(http.RedirectHandler(second.URL+"/x.png", http.StatusFound))
	defer first.Close()
	allowed := netip.MustParseAddrPort(first.Listener.Addr().String())
	client := dialClient(func(ap netip.AddrPort) bool { return ap == allowed })
	resp, err := client.Get(first.URL)
	if err == nil {
		resp.Body.Close()
	}
	var ne *NotPublicError
	if !errors.As(err, &ne) || ne.Addr != netip.MustParseAddrPort(second.Listener.Addr().String()).Addr() {
		t.Fatalf("the redirect: %v, want a NotPublicError", err)
	}
	// Both allowed, it is followed.
	resp, err = dialClient(nil).Get(first.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// TestPublicAddr: what a worker without FetchPrivate may connect to.
func TestPublicAddr(t *testing.T) {
	for s, want := range map[string]bool{
		"93.184.215.14": true, "8.8.8.8": true, "2606:4700::1111": true, "::ffff:8.8.8.8": true,
		"64:ff9b::808:808": true, // NAT64 of 8.8.8.8
		"127.0.0.1":        false, "127.255.0.9": false, "::1": false, "::ffff:127.0.0.1": false,
		"10.1.2.3": false, "172.16.0.1": false, "172.31.255.255": false, "192.168.1.1": false, "fd00::1": false,
		"169.254.169.254": false, "fe80::1": false, "fe80::1%eth0": false, "::ffff:169.254.169.254": false,
		"0.0.0.0": false, "::": false, "0.1.2.3": false, "100.64.0.1": false, "100.127.255.254": false,
		"192.0.0.8": false, "192.0.2.1": false, "198.18.0.1": false, "198.51.100.7": false, "203.0.113.9": false,
		"224.0.0.1": false, "239.255.255.250": false, "ff02::1": false, "255.255.255.255": false, "240.0.0.1": false,
		"64:ff9b::a9fe:a9fe": false, // NAT64 of 169.254.169.254
		"64:ff9b::7f00:1":    false, "64:ff9b:1::1": false, "2001:db8::1": false, "2002:7f00:1::": false,
		"2001::1": false, "100::1": false,
		"172.32.0.1": true, "100.128.0.1": true, "11.0.0.1": true, "192.169.0.1": true,
	} {
		if got := PublicAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("PublicAddr(%s) = %v, want %v", s, got, want)
		}
	}
	if PublicAddr(netip.Addr{}) {
		t.Error("the zero Addr is public")
	}
}

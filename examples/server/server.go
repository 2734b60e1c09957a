package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/imagesemantics/blipgo/blip"
	"github.com/imagesemantics/blipgo/imageproc"
	"github.com/imagesemantics/blipgo/translate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed static
var staticFiles embed.FS

// config bounds what the server accepts and how much work it takes on.
type config struct {
	MaxUpload   int64         // bytes of one request body
	MaxPixels   int           // pixels of one decoded image, checked from its header before decoding
	Workers     int           // requests computed (and images decoded) at the same time
	Queue       int           // admitted requests allowed to wait beyond the workers; more get 503
	Timeout     time.Duration // per request, from admission: body, decoding, waiting and computing
	BodyTimeout time.Duration // longest a request body may take to arrive (408 past it)
}

// MemoryBound is the most memory the server's requests hold at once, beyond the models and
// their activations, in bytes: every admitted request (workers + queue) holds at most its
// body and then its decoded 8-bit RGB image (3 bytes a pixel), and each of the Workers
// decoding slots holds a decoder's own buffer besides (up to 8 bytes a pixel for 16-bit
// images) and an oriented copy (3 bytes a pixel).
func (c config) MemoryBound() int64 {
	pixels := int64(c.MaxPixels)
	return int64(c.Workers+c.Queue)*(c.MaxUpload+3*pixels) + int64(c.Workers)*(8+3)*pixels
}

// server is the web demo and its JSON API, over one model per task.
type server struct {
	models map[blip.Task]*blip.Model
	// translators are the MarianMT models captions can be translated with, by the id they
	// were loaded as (?translate=ID).
	translators map[string]*translate.Model
	cfg         config
	// places admits requests (Workers + Queue) before their bodies are read; decodes and
	// slots (Workers each) bound the images decoded and the requests computed at once.
	places, decodes, slots chan struct{}
	mux                    *http.ServeMux
	metrics                *serverMetrics
}

// serverMetrics are the server's Prometheus metrics, served at /metrics.
type serverMetrics struct {
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
	images   prometheus.Counter
}

func newServerMetrics(reg prometheus.Registerer, s *server) *serverMetrics {
	m := &serverMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blip_http_requests_total", Help: "API requests by path and status code.",
		}, []string{"path", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "blip_http_request_seconds", Help: "API request latency, admission to response.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}, []string{"path"}),
		images: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "blip_images_total", Help: "Images described; rate() of it is images per second.",
		}),
	}
	reg.MustRegister(m.requests, m.seconds, m.images,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "blip_queue_depth", Help: "Requests admitted and not finished (running or waiting)."},
			func() float64 { return float64(len(s.places)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "blip_workers_busy", Help: "Requests computing now."},
			func() float64 { return float64(len(s.slots)) }))
	return m
}

// retryAfter is the Retry-After of a 503: about one caption's time on a busy CPU.
const retryAfter = "2"

// endpoint is one API path: the task whose model serves it, the fields it accepts beside the
// image, and its work.
type endpoint struct {
	path   string
	task   blip.Task
	fields []string
	run    func(s *server, ctx context.Context, m *blip.Model, img image.Image, form url.Values) (response, error)
}

// response is an endpoint's answer; the server adds the time its computing took.
type response interface{ setSeconds(float64) }

// timed carries a response's "seconds".
type timed struct {
	Seconds float64 `json:"seconds"`
}

func (t *timed) setSeconds(s float64) { t.Seconds = s }

// generationFields are the generation options the caption and answer endpoints take.
var generationFields = []string{"beams", "min_length", "max_length", "max_new_tokens", "no_repeat_ngram_size", "repetition_penalty", "length_penalty",
	"do_sample", "temperature", "top_k", "top_p", "seed"}

var endpoints = []endpoint{
	{"/api/caption", blip.Captioning, append([]string{"prompt", "translate"}, generationFields...), runCaption},
	{"/api/answer", blip.QuestionAnswering, append([]string{"question"}, generationFields...), runAnswer},
	{"/api/match", blip.ImageTextMatching, []string{"text"}, runMatch},
}

func newServer(cfg config, models ...*blip.Model) *server {
	s := &server{
		models: map[blip.Task]*blip.Model{}, translators: map[string]*translate.Model{}, cfg: cfg,
		places:  make(chan struct{}, cfg.Workers+cfg.Queue),
		decodes: make(chan struct{}, cfg.Workers),
		slots:   make(chan struct{}, cfg.Workers),
		mux:     http.NewServeMux(),
	}
	for _, m := range models {
		s.models[m.Task()] = m
	}
	reg := prometheus.NewRegistry()
	s.metrics = newServerMetrics(reg, s)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	static, _ := fs.Sub(staticFiles, "static")
	s.mux.Handle("GET /", http.FileServerFS(static))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "tasks": s.tasks(), "translations": s.translations()})
	})
	for _, e := range endpoints {
		s.mux.HandleFunc("POST "+e.path, func(w http.ResponseWriter, r *http.Request) { s.serveAPI(w, r, e) })
	}
	// Any other method or path under /api/ gets a JSON error (one pattern per method: a
	// method-less "/api/" would conflict with "GET /").
	apiMiss := func(w http.ResponseWriter, r *http.Request) {
		for _, e := range endpoints {
			if r.URL.Path == e.path {
				w.Header().Set("Allow", "POST")
				fail(w, http.StatusMethodNotAllowed, "%s takes POST, not %s", e.path, r.Method)
				return
			}
		}
		fail(w, http.StatusNotFound, "no such API path: %s (there are /api/caption, /api/answer and /api/match)", r.URL.Path)
	}
	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		s.mux.HandleFunc(method+" /api/", apiMiss)
	}
	return s
}

// translations lists the ids of the translation models, sorted.
func (s *server) translations() []string {
	ids := []string{}
	for id := range s.translators {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// tasks names the endpoints this server's models serve, for the page's tabs.
func (s *server) tasks() []string {
	var out []string
	for _, e := range endpoints {
		if s.models[e.task] != nil {
			out = append(out, strings.TrimPrefix(e.path, "/api/"))
		}
	}
	return out
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	lw := &loggingWriter{ResponseWriter: w, status: http.StatusOK}
	s.mux.ServeHTTP(lw, r)
	d := time.Since(start).Seconds()
	fmt.Fprintf(os.Stderr, "%s %s %d %dB %.3fs\n", r.Method, r.URL.Path, lw.status, lw.bytes, d)
	if strings.HasPrefix(r.URL.Path, "/api/") {
		path := r.URL.Path
		if !slices.ContainsFunc(endpoints, func(e endpoint) bool { return e.path == path }) {
			path = "other" // no label per unknown path
		}
		s.metrics.requests.WithLabelValues(path, strconv.Itoa(lw.status)).Inc()
		s.metrics.seconds.WithLabelValues(path).Observe(d)
	}
}

// loggingWriter records a response's status and size for the request log.
type loggingWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *loggingWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func (w *loggingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (read deadlines).
func (w *loggingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, apiError{Error: fmt.Sprintf(format, args...)})
}

// serveAPI runs one API request, holding memory to the config's bounds: it takes an admission
// place before reading the body (503 with Retry-After when there is none, the body unread),
// reads the body within MaxUpload and BodyTimeout, decodes the image in one of Workers
// decoding slots, then waits for a worker. Timeout covers all of it.
func (s *server) serveAPI(w http.ResponseWriter, r *http.Request, e endpoint) {
	m := s.models[e.task]
	if m == nil {
		fail(w, http.StatusNotImplemented, "this server has no %s model: start it with -model pointing at one", e.task)
		return
	}
	select {
	case s.places <- struct{}{}:
	default:
		w.Header().Set("Retry-After", retryAfter)
		fail(w, http.StatusServiceUnavailable, "server busy: %d requests in progress and %d waiting (the most it admits); try again", s.cfg.Workers, s.cfg.Queue)
		return
	}
	defer func() { <-s.places }()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()

	http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload)
	data, form, err := readImage(r)
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			fail(w, http.StatusRequestEntityTooLarge, "upload larger than %d bytes", s.cfg.MaxUpload)
		case errors.Is(err, os.ErrDeadlineExceeded):
			fail(w, http.StatusRequestTimeout, "the request body did not arrive within %v", s.cfg.BodyTimeout)
		case errors.Is(err, errRequest):
			fail(w, http.StatusBadRequest, "%v", err)
		default:
			fail(w, http.StatusBadRequest, "the request body could not be read")
		}
		return
	}
	if unknown := unknownFields(form, e.fields); len(unknown) > 0 {
		fail(w, http.StatusUnprocessableEntity, "unknown field %s for %s (it takes %s)", strings.Join(unknown, ", "), e.path, strings.Join(e.fields, ", "))
		return
	}

	var img *imageproc.RGB
	if err := s.acquire(ctx, s.decodes); err != nil {
		s.failWait(w)
		return
	}
	img, err = imageproc.DecodeBytes(data, s.cfg.MaxPixels)
	<-s.decodes
	data = nil // the body is no longer needed; only the decoded image is held while waiting
	if err != nil {
		s.failWork(w, err)
		return
	}
	if err := s.acquire(ctx, s.slots); err != nil {
		s.failWait(w)
		return
	}
	defer func() { <-s.slots }()
	start := time.Now()
	out, err := e.run(s, ctx, m, img, form)
	if err != nil {
		s.failWork(w, err)
		return
	}
	out.setSeconds(time.Since(start).Seconds())
	s.metrics.images.Inc()
	writeJSON(w, http.StatusOK, out)
}

// acquire takes a token of ch, or fails when ctx ends first.
func (s *server) acquire(ctx context.Context, ch chan struct{}) error {
	select {
	case ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// failWait answers a request whose time ran out while it waited for a slot.
func (s *server) failWait(w http.ResponseWriter) {
	fail(w, http.StatusGatewayTimeout, "timed out after %v waiting for a worker", s.cfg.Timeout)
}

// failWork answers a request whose decoding or computing failed.
func (s *server) failWork(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, imageproc.ErrTooLarge):
		fail(w, http.StatusRequestEntityTooLarge, "%v", err)
	case errors.Is(err, imageproc.ErrImage):
		fail(w, http.StatusBadRequest, "%v", err)
	case errors.Is(err, blip.ErrOption):
		fail(w, http.StatusUnprocessableEntity, "%v", err)
	case errors.Is(err, context.DeadlineExceeded):
		fail(w, http.StatusGatewayTimeout, "the request took longer than %v", s.cfg.Timeout)
	default:
		fail(w, http.StatusInternalServerError, "%v", err)
	}
}

// captionResponse is /api/caption's answer.
type captionResponse struct {
	Caption     string  `json:"caption"`
	IDs         []int   `json:"ids"`
	Translation *string `json:"translation,omitempty"`
	timed
}

func runCaption(s *server, ctx context.Context, m *blip.Model, img image.Image, form url.Values) (response, error) {
	opts, err := options(form)
	if err != nil {
		return nil, err
	}
	if p := form.Get("prompt"); p != "" {
		if len(p) > maxTextField {
			return nil, fmt.Errorf("%w: prompt longer than %d bytes", blip.ErrOption, maxTextField)
		}
		opts = append(opts, blip.Prompt(p))
	}
	var tr *translate.Model
	if id := form.Get("translate"); id != "" {
		if tr = s.translators[id]; tr == nil {
			return nil, fmt.Errorf("%w: translate=%q: this server translates with %v", blip.ErrOption, id, s.translations())
		}
	}
	c, err := m.Caption(ctx, img, opts...)
	if err != nil {
		return nil, err
	}
	r := &captionResponse{Caption: c.Text, IDs: c.IDs}
	if tr != nil {
		t, err := tr.Translate(ctx, []string{c.Text}, translate.Options{})
		if err != nil {
			return nil, err
		}
		r.Translation = &t[0].Text
	}
	return r, nil
}

// answerResponse is /api/answer's answer: the first question's answer at the top level (as
// when one question is asked), and every question's, in the order given, in Answers.
type answerResponse struct {
	answerEntry
	Answers []answerEntry `json:"answers"`
	timed
}

type answerEntry struct {
	Question string `json:"question"`
	Answer   string `json:"answer"`
	IDs      []int  `json:"ids"`
}

func runAnswer(_ *server, ctx context.Context, m *blip.Model, img image.Image, form url.Values) (response, error) {
	qs := form["question"]
	if most := blip.ServiceLimits().Texts; len(qs) == 0 || len(qs) > most {
		return nil, fmt.Errorf("%w: question must be 1 to %d bytes, in 1 to %d question fields", blip.ErrOption, maxTextField, most)
	}
	for _, q := range qs {
		if strings.TrimSpace(q) == "" || len(q) > maxTextField {
			return nil, fmt.Errorf("%w: question must be 1 to %d bytes", blip.ErrOption, maxTextField)
		}
	}
	opts, err := options(form)
	if err != nil {
		return nil, err
	}
	as, err := m.AnswerBatch(ctx, img, qs, opts...)
	if err != nil {
		return nil, err
	}
	out := &answerResponse{Answers: make([]answerEntry, len(as))}
	for i, a := range as {
		out.Answers[i] = answerEntry{Question: qs[i], Answer: a.Text, IDs: a.IDs}
	}
	out.answerEntry = out.Answers[0]
	return out, nil
}

// matchResponse is /api/match's answer: one entry per text, in the order given.
type matchResponse struct {
	Matches []matchEntry `json:"matches"`
	timed
}

type matchEntry struct {
	Text    string  `json:"text"`
	ITMProb float32 `json:"itm_prob"`
	Cosine  float32 `json:"cosine"`
}

func runMatch(_ *server, ctx context.Context, m *blip.Model, img image.Image, form url.Values) (response, error) {
	texts := form["text"]
	if most := blip.ServiceLimits().Texts; len(texts) == 0 || len(texts) > most {
		return nil, fmt.Errorf("%w: give 1 to %d text fields", blip.ErrOption, most)
	}
	for _, t := range texts {
		if len(t) > maxTextField {
			return nil, fmt.Errorf("%w: text longer than %d bytes", blip.ErrOption, maxTextField)
		}
	}
	ms, err := m.Match(ctx, img, texts...)
	if err != nil {
		return nil, err
	}
	out := &matchResponse{Matches: make([]matchEntry, len(ms))}
	for i, mt := range ms {
		out.Matches[i] = matchEntry{Text: mt.Text, ITMProb: mt.ITMProb, Cosine: mt.Cosine}
	}
	return out, nil
}

// errRequest marks a request that is malformed (as opposed to one that could not be read).
var errRequest = errors.New("bad request")

// requestError is a malformed request, with a message for the client.
func requestError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errRequest}, args...)...)
}

// maxTextField bounds a text form field (prompt, question, match text) in bytes.
const maxTextField = 500

// readImage returns the uploaded image bytes and the form values (query parameters, then
// form fields).
func readImage(r *http.Request) ([]byte, url.Values, error) {
	form := r.URL.Query()
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, nil, requestError("%v", err)
		}
		var data []byte
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, nil, err
			}
			name := part.FormName()
			if name == "image" {
				if data, err = io.ReadAll(part); err != nil {
					return nil, nil, err
				}
				continue
			}
			b, err := io.ReadAll(io.LimitReader(part, maxTextField+1))
			if err != nil {
				return nil, nil, err
			}
			if name != "" {
				form.Add(name, string(b))
			}
		}
		if data == nil {
			return nil, nil, requestError(`no "image" field in the form`)
		}
		return data, form, nil
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, nil, err
	}
	if len(data) == 0 {
		return nil, nil, requestError(`empty body: send the image as the body or as multipart field "image"`)
	}
	return data, form, nil
}

// unknownFields lists the form's fields that known lacks, sorted.
func unknownFields(form url.Values, known []string) []string {
	var out []string
	for k := range form {
		if !slices.Contains(known, k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// options parses the generation options of a request (transformers' names). The ranges
// accepted are blip.ServiceLimits' (wider values are 422), which bound one request's work
// more tightly than the library does; every option is then checked by the library's own
// validation, as a Caption call does.
func options(form url.Values) ([]blip.Option, error) {
	lim := blip.ServiceLimits()
	var opts []blip.Option
	intOpt := func(name string, lo, hi int, set func(int) blip.Option) error {
		v := form.Get(name)
		if v == "" {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%w: %s must be an integer in [%d, %d], got %q", blip.ErrOption, name, lo, hi, v)
		}
		opts = append(opts, set(n))
		return nil
	}
	floatOpt := func(name string, lo, hi float64, set func(float64) blip.Option) error {
		v := form.Get(name)
		if v == "" {
			return nil
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= lo && f <= hi) {
			return fmt.Errorf("%w: %s must be a number in [%g, %g], got %q", blip.ErrOption, name, lo, hi, v)
		}
		opts = append(opts, set(f))
		return nil
	}
	for _, err := range []error{
		intOpt("beams", 1, lim.Beams, blip.Beams),
		intOpt("min_length", 0, lim.Length, blip.MinLength),
		intOpt("max_length", 1, lim.Length, blip.MaxLength),
		intOpt("max_new_tokens", 1, lim.Length, blip.MaxNewTokens),
		intOpt("no_repeat_ngram_size", 0, 16, blip.NoRepeatNgramSize),
		floatOpt("repetition_penalty", 0.01, 100, blip.RepetitionPenalty),
		floatOpt("length_penalty", -10, 10, blip.LengthPenalty),
		floatOpt("temperature", 1e-3, 100, blip.Temperature),
		intOpt("top_k", 0, 1000, blip.TopK),
		floatOpt("top_p", 1e-6, 1, blip.TopP),
	} {
		if err != nil {
			return nil, err
		}
	}
	switch v := form.Get("do_sample"); v {
	case "", "false", "0":
	case "true", "1":
		opts = append(opts, blip.Sample())
	default:
		return nil, fmt.Errorf("%w: do_sample must be true or false, got %q", blip.ErrOption, v)
	}
	if v := form.Get("seed"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: seed must be a non-negative integer, got %q", blip.ErrOption, v)
		}
		opts = append(opts, blip.Seed(n))
	}
	return opts, blip.ValidateOptions(opts...)
}

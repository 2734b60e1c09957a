package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/imagesemantics/blipgo/blip"
	"github.com/imagesemantics/blipgo/imageproc"
)

//go:embed static
var staticFiles embed.FS

// config bounds what the server accepts and how much work it takes on.
type config struct {
	MaxUpload int64         // bytes of one request body
	MaxPixels int           // pixels of one decoded image, checked from its header before decoding
	Workers   int           // captions computed at the same time
	Queue     int           // requests allowed to wait for a worker; more get 503
	Timeout   time.Duration // per caption request
}

// server is the web demo and its JSON API.
type server struct {
	m     *blip.Model
	cfg   config
	slots chan struct{} // one token per worker
	queue chan struct{} // one token per waiting request
	mux   *http.ServeMux
}

func newServer(m *blip.Model, cfg config) *server {
	s := &server{m: m, cfg: cfg, slots: make(chan struct{}, cfg.Workers), queue: make(chan struct{}, cfg.Workers+cfg.Queue), mux: http.NewServeMux()}
	static, _ := fs.Sub(staticFiles, "static")
	s.mux.Handle("GET /", http.FileServerFS(static))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	s.mux.HandleFunc("POST /api/caption", s.caption)
	return s
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

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

// captionResponse is the API's answer.
type captionResponse struct {
	Caption string  `json:"caption"`
	IDs     []int   `json:"ids"`
	Seconds float64 `json:"seconds"`
}

// caption handles POST /api/caption: the image as multipart field "image" or as the raw body;
// options as form fields or query parameters.
func (s *server) caption(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload)
	data, form, err := readImage(r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(w, http.StatusRequestEntityTooLarge, "upload larger than %d bytes", s.cfg.MaxUpload)
			return
		}
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	opts, err := options(form)
	if err != nil {
		fail(w, http.StatusUnprocessableEntity, "%v", err)
		return
	}
	img, err := imageproc.DecodeBytes(data, s.cfg.MaxPixels)
	if err != nil {
		if errors.Is(err, imageproc.ErrTooLarge) {
			fail(w, http.StatusRequestEntityTooLarge, "%v", err)
			return
		}
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	// Wait for a worker, unless too many requests already are.
	select {
	case s.queue <- struct{}{}:
	default:
		fail(w, http.StatusServiceUnavailable, "server busy: %d requests queued, try again", cap(s.queue))
		return
	}
	defer func() { <-s.queue }()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		fail(w, http.StatusServiceUnavailable, "timed out waiting for a worker")
		return
	}
	defer func() { <-s.slots }()
	start := time.Now()
	c, err := s.m.Caption(ctx, img, opts...)
	switch {
	case errors.Is(err, blip.ErrOption):
		fail(w, http.StatusUnprocessableEntity, "%v", err)
	case errors.Is(err, context.DeadlineExceeded):
		fail(w, http.StatusGatewayTimeout, "captioning took longer than %v", s.cfg.Timeout)
	case err != nil:
		fail(w, http.StatusInternalServerError, "%v", err)
	default:
		writeJSON(w, http.StatusOK, captionResponse{Caption: c.Text, IDs: c.IDs, Seconds: time.Since(start).Seconds()})
	}
}

// readImage returns the uploaded image bytes and the option values (query parameters, overridden
// by form fields).
func readImage(r *http.Request) ([]byte, map[string]string, error) {
	form := map[string]string{}
	for k, v := range r.URL.Query() {
		form[k] = v[0]
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, nil, err
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
			b, err := io.ReadAll(part)
			if err != nil {
				return nil, nil, err
			}
			if part.FormName() == "image" {
				data = b
			} else if part.FormName() != "" {
				form[part.FormName()] = string(b)
			}
		}
		if data == nil {
			return nil, nil, errors.New(`no "image" field in the form`)
		}
		return data, form, nil
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, nil, err
	}
	if len(data) == 0 {
		return nil, nil, errors.New("empty body: send the image as the body or as multipart field \"image\"")
	}
	return data, form, nil
}

// Ranges accepted for the options; wider values are 422.
const (
	maxBeamsOption  = 8
	maxLengthOption = 128
)

// options parses the generation options of a request.
func options(form map[string]string) ([]blip.Option, error) {
	var opts []blip.Option
	intOpt := func(name string, lo, hi int, set func(int) blip.Option) error {
		v, ok := form[name]
		if !ok || v == "" {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%s must be an integer in [%d, %d], got %q", name, lo, hi, v)
		}
		opts = append(opts, set(n))
		return nil
	}
	floatOpt := func(name string, lo, hi float64, set func(float64) blip.Option) error {
		v, ok := form[name]
		if !ok || v == "" {
			return nil
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= lo && f <= hi) {
			return fmt.Errorf("%s must be a number in [%g, %g], got %q", name, lo, hi, v)
		}
		opts = append(opts, set(f))
		return nil
	}
	for _, err := range []error{
		intOpt("beams", 1, maxBeamsOption, blip.Beams),
		intOpt("min_length", 0, maxLengthOption, blip.MinLength),
		intOpt("max_length", 1, maxLengthOption, blip.MaxLength),
		intOpt("max_new_tokens", 1, maxLengthOption, blip.MaxNewTokens),
		intOpt("no_repeat_ngram_size", 0, 16, blip.NoRepeatNgramSize),
		floatOpt("repetition_penalty", 0.01, 100, blip.RepetitionPenalty),
		floatOpt("length_penalty", -10, 10, blip.LengthPenalty),
	} {
		if err != nil {
			return nil, err
		}
	}
	if p := form["prompt"]; p != "" {
		if len(p) > 500 {
			return nil, fmt.Errorf("prompt longer than 500 bytes")
		}
		opts = append(opts, blip.Prompt(p))
	}
	return opts, nil
}

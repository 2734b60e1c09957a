package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imagesemantics/blipgo/blip"
	"github.com/imagesemantics/blipgo/internal/golden"
	"github.com/imagesemantics/blipgo/translate"
)

// testServer serves the golden captioning, question-answering and matching models.
func testServer(t *testing.T, cfg config) (*server, *httptest.Server) {
	t.Helper()
	var models []*blip.Model
	for _, name := range []string{"blip-tiny-a", "blip-tiny-vqa", "blip-tiny-itm"} {
		m, err := blip.Load(golden.Path("models", name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		models = append(models, m)
	}
	s := newServer(cfg, models...)
	tr, err := translate.Load(golden.Path("marian", "marian-tiny"), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	s.translators["opus-mt-tiny"] = tr
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func defaultConfig() config {
	return config{MaxUpload: 5 << 20, MaxPixels: 5_000_000, Workers: 1, Queue: 4, Timeout: time.Minute, BodyTimeout: 10 * time.Second}
}

func chelsea(t *testing.T) []byte {
	b, err := os.ReadFile(golden.Path("images/chelsea.png"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func multipartBody(t *testing.T, img []byte, fields map[string]string) (io.Reader, string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	if img != nil {
		part, _ := w.CreateFormFile("image", "chelsea.png")
		part.Write(img)
	}
	w.Close()
	return &buf, w.FormDataContentType()
}

func post(t *testing.T, url, contentType string, body io.Reader) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

func ids(v any) []int {
	var out []int
	for _, x := range v.([]any) {
		out = append(out, int(x.(float64)))
	}
	return out
}

// TestCaptionAPI gives the golden ids for a multipart upload, a raw body, and options passed
// either way.
func TestCaptionAPI(t *testing.T) {
	_, ts := testServer(t, defaultConfig())
	cases, err := golden.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := cases.GenerateIDs("blip-tiny-a", "chelsea")
	body, ct := multipartBody(t, chelsea(t), nil)
	status, out := post(t, ts.URL+"/api/caption", ct, body)
	if status != 200 || !slices.Equal(ids(out["ids"]), want["default"]) || out["caption"] != "highlands residing highlands residing highlands remy nguyen" {
		t.Errorf("multipart: %d %v", status, out)
	}
	if s, ok := out["seconds"].(float64); !ok || s <= 0 {
		t.Errorf("seconds %v", out["seconds"])
	}
	status, out = post(t, ts.URL+"/api/caption?beams=3&min_length=5&max_length=20", "image/png", bytes.NewReader(chelsea(t)))
	if status != 200 || !slices.Equal(ids(out["ids"]), want["beam3_min5_max20"]) {
		t.Errorf("raw body with query options: %d %v", status, out)
	}
	// A translation is added with translate=ID; an unknown ID is refused by name.
	_, translated := post(t, ts.URL+"/api/caption?translate=opus-mt-tiny", "image/png", bytes.NewReader(chelsea(t)))
	tr, _ := translate.Load(golden.Path("marian", "marian-tiny"), 1)
	defer tr.Close()
	wantTr, _ := tr.Translate(context.Background(), []string{translated["caption"].(string)}, translate.Options{})
	if translated["translation"] != wantTr[0].Text {
		t.Errorf("translation %v, want %q", translated, wantTr[0].Text)
	}
	if status, out := post(t, ts.URL+"/api/caption?translate=opus-mt-xx", "image/png", bytes.NewReader(chelsea(t))); status != 422 || !strings.Contains(out["error"].(string), "opus-mt-tiny") {
		t.Errorf("unknown translation: %d %v", status, out)
	}
	// Sampling with a seed repeats itself; top_k 1 is the greedy caption.
	_, first := post(t, ts.URL+"/api/caption?do_sample=true&seed=5&temperature=1.5", "image/png", bytes.NewReader(chelsea(t)))
	_, again := post(t, ts.URL+"/api/caption?do_sample=true&seed=5&temperature=1.5", "image/png", bytes.NewReader(chelsea(t)))
	_, top1 := post(t, ts.URL+"/api/caption?do_sample=1&top_k=1", "image/png", bytes.NewReader(chelsea(t)))
	if first["caption"] != again["caption"] || !slices.Equal(ids(top1["ids"]), want["default"]) {
		t.Errorf("sampling: %v, %v, top_k 1 %v", first, again, top1)
	}
	body, ct = multipartBody(t, chelsea(t), map[string]string{"prompt": "a photography of"})
	status, out = post(t, ts.URL+"/api/caption", ct, body)
	if status != 200 || !slices.Equal(ids(out["ids"]), want["prompt"]) {
		t.Errorf("prompt as a form field: %d %v", status, out)
	}
	resp, err := http.Get(ts.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz: %v %v", resp, err)
	}
	resp, err = http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(page), "<title>Image Semantics</title>") || !strings.Contains(string(page), "Generate Semantics") {
		t.Error("the page is not served")
	}
}

func TestCaptionAPIErrors(t *testing.T) {
	cfg := defaultConfig()
	cfg.MaxUpload = 400_000
	s, ts := testServer(t, cfg)
	var big bytes.Buffer
	png.Encode(&big, image.NewGray(image.Rect(0, 0, 3000, 2000))) // compresses to a small file
	for _, c := range []struct {
		name        string
		url, ct     string
		body        io.Reader
		status      int
		errContains string
	}{
		{"not an image", "/api/caption", "text/plain", strings.NewReader("hello"), 400, "unknown format"},
		{"empty body", "/api/caption", "image/png", strings.NewReader(""), 400, "empty body"},
		{"truncated png", "/api/caption", "image/png", bytes.NewReader(chelsea(t)[:5000]), 400, "png"},
		{"upload too large", "/api/caption", "image/png", bytes.NewReader(make([]byte, 500_000)), 413, "larger than"},
		{"too many pixels", "/api/caption", "image/png", bytes.NewReader(big.Bytes()), 413, "pixel limit"},
		{"beams out of range", "/api/caption?beams=0", "image/png", bytes.NewReader(chelsea(t)), 422, "beams"},
		{"not a number", "/api/caption?repetition_penalty=abc", "image/png", bytes.NewReader(chelsea(t)), 422, "repetition_penalty"},
		{"prompt past max length", "/api/caption?prompt=a+photography+of+a+cat&max_length=3", "image/png", bytes.NewReader(chelsea(t)), 422, "max length is 3"},
		{"misspelt field", "/api/caption?beam=3", "image/png", bytes.NewReader(chelsea(t)), 422, "unknown field beam"},
		{"sampling with beams", "/api/caption?do_sample=true&beams=2", "image/png", bytes.NewReader(chelsea(t)), 422, "beam sample"},
		{"bad seed", "/api/caption?do_sample=true&seed=-1", "image/png", bytes.NewReader(chelsea(t)), 422, "seed"},
		{"answer without question", "/api/answer", "image/png", bytes.NewReader(chelsea(t)), 422, "question must be"},
		{"an empty question among several", "/api/answer?question=what&question=+", "image/png", bytes.NewReader(chelsea(t)), 422, "question must be"},
		{"too many questions", "/api/answer?" + strings.Repeat("question=what&", blip.ServiceLimits().Texts+1), "image/png", bytes.NewReader(chelsea(t)), 422, "question fields"},
		{"match without text", "/api/match", "image/png", bytes.NewReader(chelsea(t)), 422, "text field"},
		{"too many texts", "/api/match?" + strings.Repeat("text=a&", blip.ServiceLimits().Texts+1), "image/png", bytes.NewReader(chelsea(t)), 422, "text fields"},
		{"prompt too long", "/api/caption?prompt=" + strings.Repeat("a", maxTextField+1), "image/png", bytes.NewReader(chelsea(t)), 422, "prompt longer than"},
		{"question too long", "/api/answer?question=" + strings.Repeat("a", maxTextField+1), "image/png", bytes.NewReader(chelsea(t)), 422, "question must be"},
		{"text too long", "/api/match?text=" + strings.Repeat("a", maxTextField+1), "image/png", bytes.NewReader(chelsea(t)), 422, "text longer than"},
		{"no such API path", "/api/describe", "image/png", bytes.NewReader(chelsea(t)), 404, "no such API path"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, out := post(t, ts.URL+c.url, c.ct, c.body)
			if status != c.status || !strings.Contains(out["error"].(string), c.errContains) {
				t.Errorf("%d %v, want %d with %q", status, out, c.status, c.errContains)
			}
		})
	}
	t.Run("multipart upload too large", func(t *testing.T) {
		body, ct := multipartBody(t, make([]byte, 500_000), nil)
		status, out := post(t, ts.URL+"/api/caption", ct, body)
		if status != 413 {
			t.Errorf("%d %v", status, out)
		}
	})
	t.Run("multipart prompt too long", func(t *testing.T) {
		// The form reader keeps one byte past the limit of a text field, so that a longer one is
		// refused rather than cut short.
		body, ct := multipartBody(t, chelsea(t), map[string]string{"prompt": strings.Repeat("a", 2*maxTextField)})
		status, out := post(t, ts.URL+"/api/caption", ct, body)
		if status != 422 || !strings.Contains(out["error"].(string), "prompt longer than") {
			t.Errorf("%d %v", status, out)
		}
	})
	t.Run("multipart without image", func(t *testing.T) {
		body, ct := multipartBody(t, nil, map[string]string{"beams": "2"})
		status, out := post(t, ts.URL+"/api/caption", ct, body)
		if status != 400 || !strings.Contains(out["error"].(string), `no "image" field`) {
			t.Errorf("%d %v", status, out)
		}
	})
	t.Run("queue full", func(t *testing.T) {
		// Occupy every worker and queue place, as long requests would.
		for i := 0; i < cap(s.places); i++ {
			s.places <- struct{}{}
		}
		defer func() {
			for i := 0; i < cap(s.places); i++ {
				<-s.places
			}
		}()
		resp, err := http.Post(ts.URL+"/api/caption", "image/png", bytes.NewReader(chelsea(t)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]string
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(out["error"], "1 requests in progress and 4 waiting") {
			t.Errorf("%d %v, Retry-After %q", resp.StatusCode, out, resp.Header.Get("Retry-After"))
		}
	})
	t.Run("timeout", func(t *testing.T) {
		s.cfg.Timeout = time.Nanosecond
		defer func() { s.cfg.Timeout = time.Minute }()
		status, _ := post(t, ts.URL+"/api/caption", "image/png", bytes.NewReader(chelsea(t)))
		if status != 504 {
			t.Errorf("status %d, want 504", status)
		}
	})
}

// TestAnswerAndMatchAPI gives the golden answer and matches.
func TestAnswerAndMatchAPI(t *testing.T) {
	_, ts := testServer(t, defaultConfig())
	cases, err := golden.Load()
	if err != nil {
		t.Fatal(err)
	}
	vqa := cases.VQA[0]
	body, ct := multipartBody(t, chelsea(t), map[string]string{"question": vqa.Question})
	status, out := post(t, ts.URL+"/api/answer", ct, body)
	if status != 200 || out["answer"] != vqa.Text || !slices.Equal(ids(out["ids"]), vqa.IDs) || out["question"] != vqa.Question {
		t.Errorf("answer: %d %v, want %q %v", status, out, vqa.Text, vqa.IDs)
	}
	if as, _ := out["answers"].([]any); len(as) != 1 || as[0].(map[string]any)["answer"] != vqa.Text {
		t.Errorf("answers of one question: %v", out["answers"])
	}
	// Several questions: each golden greedy one about chelsea, answered in the order asked.
	var several []golden.VQA
	for _, c := range cases.VQA {
		if c.Model == "blip-tiny-vqa" && c.Image == "chelsea" && c.Options.NumBeams == nil {
			several = append(several, c)
		}
	}
	if len(several) < 2 {
		t.Fatalf("%d greedy golden questions about chelsea", len(several))
	}
	qv := url.Values{}
	for _, c := range several {
		qv.Add("question", c.Question)
	}
	status, out = post(t, ts.URL+"/api/answer?"+qv.Encode(), "image/png", bytes.NewReader(chelsea(t)))
	as, _ := out["answers"].([]any)
	if status != 200 || len(as) != len(several) || out["question"] != several[0].Question {
		t.Fatalf("several questions: %d %v", status, out)
	}
	for i, v := range as {
		e := v.(map[string]any)
		if e["question"] != several[i].Question || e["answer"] != several[i].Text || !slices.Equal(ids(e["ids"]), several[i].IDs) {
			t.Errorf("question %d: %v, want %q %v", i, e, several[i].Text, several[i].IDs)
		}
	}
	itm := cases.ITM[0]
	q := url.Values{"text": itm.Texts}
	status, out = post(t, ts.URL+"/api/match?"+q.Encode(), "image/png", bytes.NewReader(chelsea(t)))
	if status != 200 {
		t.Fatalf("match: %d %v", status, out)
	}
	ms := out["matches"].([]any)
	if len(ms) != len(itm.Texts) {
		t.Fatalf("%d matches", len(ms))
	}
	for i, v := range ms {
		e := v.(map[string]any)
		if e["text"] != itm.Texts[i] || math.Abs(e["itm_prob"].(float64)-itm.ITMProbMatch[i]) > 1e-6 || math.Abs(e["cosine"].(float64)-itm.Cosine[0][i]) > 1e-6 {
			t.Errorf("match %d: %v", i, e)
		}
	}
	resp, err := http.Get(ts.URL + "/api/caption")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET /api/caption: %d %v", resp.StatusCode, resp.Header)
	}
	resp, err = http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`blip_http_requests_total{code="200",path="/api/answer"} 2`, `blip_http_requests_total{code="405",path="/api/caption"} 1`,
		"blip_images_total 3", "blip_queue_depth 0", "blip_http_request_seconds_bucket"} {
		if !strings.Contains(string(metricsText), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	resp, err = http.Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var health struct{ Tasks []string }
	json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if !slices.Equal(health.Tasks, []string{"caption", "answer", "match"}) {
		t.Errorf("healthz tasks %v", health.Tasks)
	}
}

// TestSlowBody: a body that stops arriving gets 408 with a plain message.
func TestSlowBody(t *testing.T) {
	cfg := defaultConfig()
	cfg.BodyTimeout = 200 * time.Millisecond
	_, ts := testServer(t, cfg)
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/caption HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n")
	conn.Write(chelsea(t)[:1000]) // then nothing more
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 408 || !strings.Contains(out["error"], "did not arrive within 200ms") || strings.Contains(out["error"], "127.0.0.1") {
		t.Errorf("%d %v", resp.StatusCode, out)
	}
}

// TestMemoryBound sends many concurrent uploads of a small PNG that decodes to a large image
// to a server with one worker and two queue places: every request is answered (200, or 503
// without its body being decoded), and the heap stays within config.MemoryBound plus the
// models and one caption's activations. The live heap (after each collection) is held to that
// bound; all heap objects, garbage included, to twice it (GOGC=100 lets garbage reach the
// live heap's size before collecting).
func TestMemoryBound(t *testing.T) {
	cfg := defaultConfig()
	cfg.Workers, cfg.Queue, cfg.MaxUpload, cfg.MaxPixels = 1, 2, 1<<20, 16_000_000
	_, ts := testServer(t, cfg)
	var big bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	enc.Encode(&big, image.NewGray(image.Rect(0, 0, 4000, 4000))) // 16 MP in some tens of KB
	if big.Len() > int(cfg.MaxUpload)/4 {
		t.Fatalf("test image is %d bytes", big.Len())
	}
	runtime.GC()
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(samples)
	base := samples[1].Value.Uint64()
	var peakLive, peakAll uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			metrics.Read(samples)
			peakLive, peakAll = max(peakLive, samples[0].Value.Uint64()), max(peakAll, samples[1].Value.Uint64())
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	const n = 16
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(ts.URL+"/api/caption", "image/png", bytes.NewReader(big.Bytes()))
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	close(done)
	<-sampled
	ok, busy := 0, 0
	for _, st := range statuses {
		switch st {
		case 200:
			ok++
		case 503:
			busy++
		default:
			t.Errorf("status %d", st)
		}
	}
	const slack = 64 << 20 // models, activations, buffers of the HTTP stack
	bound := uint64(cfg.MemoryBound()) + slack
	t.Logf("%d answered, %d refused; heap above the start: live %d MB, all %d MB; bound %d MB",
		ok, busy, (peakLive-min(peakLive, base))>>20, (peakAll-base)>>20, bound>>20)
	if ok == 0 {
		t.Error("no request was served")
	}
	if peakLive > base+bound || peakAll > base+2*bound {
		t.Errorf("heap peaked at live %d MB, all %d MB above the start; bound %d MB", (peakLive-min(peakLive, base))>>20, (peakAll-base)>>20, bound>>20)
	}
}

// TestGracefulShutdown: when the signal context ends, a request in flight still completes and
// new connections are refused.
func TestGracefulShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		w.Write([]byte("done"))
	})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln, h, 5*time.Second) }()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-started
	cancel() // as SIGTERM does
	if body := <-got; body != "done" {
		t.Errorf("in-flight request got %q", body)
	}
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		t.Error("still accepting connections after shutdown")
	}
}

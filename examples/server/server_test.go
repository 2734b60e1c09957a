package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imagesemantics/blipgo/blip"
	"github.com/imagesemantics/blipgo/internal/golden"
)

func testServer(t *testing.T, cfg config) (*server, *httptest.Server) {
	t.Helper()
	m, err := blip.Load(golden.Path("models", "blip-tiny-a"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	s := newServer(m, cfg)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func defaultConfig() config {
	return config{MaxUpload: 5 << 20, MaxPixels: 5_000_000, Workers: 1, Queue: 4, Timeout: time.Minute}
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
	t.Run("multipart without image", func(t *testing.T) {
		body, ct := multipartBody(t, nil, map[string]string{"beams": "2"})
		status, out := post(t, ts.URL+"/api/caption", ct, body)
		if status != 400 || !strings.Contains(out["error"].(string), `no "image" field`) {
			t.Errorf("%d %v", status, out)
		}
	})
	t.Run("queue full", func(t *testing.T) {
		// Occupy every worker and queue place, as long requests would.
		for i := 0; i < cap(s.queue); i++ {
			s.queue <- struct{}{}
		}
		defer func() {
			for i := 0; i < cap(s.queue); i++ {
				<-s.queue
			}
		}()
		status, out := post(t, ts.URL+"/api/caption", "image/png", bytes.NewReader(chelsea(t)))
		if status != 503 || !strings.Contains(out["error"].(string), "busy") {
			t.Errorf("%d %v", status, out)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		s.cfg.Timeout = time.Nanosecond
		defer func() { s.cfg.Timeout = time.Minute }()
		status, _ := post(t, ts.URL+"/api/caption", "image/png", bytes.NewReader(chelsea(t)))
		if status != 503 && status != 504 {
			t.Errorf("status %d, want 503 or 504", status)
		}
	})
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

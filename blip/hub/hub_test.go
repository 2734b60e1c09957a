package hub_test

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imagesemantics/blipgo/blip/hub"
	"github.com/imagesemantics/blipgo/internal/golden"
)

const commit = "0123456789abcdef0123456789abcdef01234567"

// fakeHub serves a golden snapshot the way huggingface.co does: /ORG/NAME/resolve/REV/FILE with
// X-Repo-Commit and ETag headers; safetensors files are "LFS" files, redirected to a CDN on
// another host that honours Range requests.
type fakeHub struct {
	t        *testing.T
	hub, cdn *httptest.Server
	files    map[string][]byte // name -> content
	repo     string
	token    string // required bearer token, if set
	mu       sync.Mutex
	ranges   []string // Range headers the CDN saw
	cutOnce  map[string]bool
	// stallOnce: the next GET of the file sends half of it, then nothing until the client
	// gives up; silentOnce: the next GET sends nothing at all, not even headers; trickle:
	// every GET sends the file in ten pieces this far apart.
	stallOnce, silentOnce map[string]bool
	trickle               time.Duration
	silentHub             bool // the hub answers nothing until the client gives up
	requests              int
	// status: the hub answers these files with this status; etags: with this ETag; shortOnce:
	// the next GET of the file gets its first half as a whole answer (Content-Length too);
	// noRanges: the CDN ignores Range headers, answering every GET with the whole file.
	status    map[string]int
	etags     map[string]string
	shortOnce map[string]bool
	noRanges  bool
}

func newFakeHub(t *testing.T, model, repo string) *fakeHub {
	files, err := golden.ModelFiles(model)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeHub{t: t, files: files, repo: repo, cutOnce: map[string]bool{}, stallOnce: map[string]bool{}, silentOnce: map[string]bool{},
		status: map[string]int{}, etags: map[string]string{}, shortOnce: map[string]bool{}}
	f.cdn = httptest.NewServer(http.HandlerFunc(f.serveCDN))
	f.hub = httptest.NewServer(http.HandlerFunc(f.serveHub))
	t.Cleanup(func() { f.hub.Close(); f.cdn.Close() })
	return f
}

func isLFS(name string) bool { return strings.HasSuffix(name, ".safetensors") }

func etag(name string, b []byte) string {
	if isLFS(name) {
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:])
	}
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

func (f *fakeHub) serveHub(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	silent := f.silentHub
	f.mu.Unlock()
	if silent {
		<-r.Context().Done()
		return
	}
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, "gated", http.StatusUnauthorized)
		return
	}
	// A renamed repository redirects, on the same host, to its new name; a broken one to
	// itself.
	if strings.HasPrefix(r.URL.Path, "/loop-org/") {
		http.Redirect(w, r, r.URL.Path, http.StatusTemporaryRedirect)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/old-org/") {
		http.Redirect(w, r, strings.Replace(r.URL.Path, "/old-org/", "/"+strings.Split(f.repo, "/")[0]+"/", 1), http.StatusTemporaryRedirect)
		return
	}
	prefix := "/" + f.repo + "/resolve/"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	rev, name, _ := strings.Cut(rest, "/")
	if rev != "main" && rev != "v1" && rev != commit {
		http.NotFound(w, r)
		return
	}
	b, ok := f.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if code := f.status[name]; code != 0 {
		http.Error(w, "refused", code)
		return
	}
	w.Header().Set("X-Repo-Commit", commit)
	if e, ok := f.etags[name]; ok {
		w.Header().Set("ETag", e)
		http.ServeContent(w, r, name, time.Time{}, strings.NewReader(string(b)))
		return
	}
	if isLFS(name) {
		w.Header().Set("X-Linked-Etag", `"`+etag(name, b)+`"`)
		w.Header().Set("X-Linked-Size", fmt.Sprint(len(b)))
		w.Header().Set("ETag", `"git-pointer-etag"`)
		http.Redirect(w, r, f.cdn.URL+"/blobs/"+name, http.StatusFound)
		return
	}
	w.Header().Set("ETag", `W/"`+etag(name, b)+`"`)
	http.ServeContent(w, r, name, time.Time{}, strings.NewReader(string(b)))
}

func (f *fakeHub) serveCDN(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/blobs/")
	b, ok := f.files[name]
	if !ok || r.Header.Get("Authorization") != "" { // the token must not leak to another host
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	f.ranges = append(f.ranges, r.Header.Get("Range"))
	cut, stall, silent, short := f.cutOnce[name], f.stallOnce[name], f.silentOnce[name], f.shortOnce[name]
	if r.Method == http.MethodGet {
		f.cutOnce[name], f.stallOnce[name], f.silentOnce[name], f.shortOnce[name] = false, false, false, false
	}
	noRanges := f.noRanges
	f.mu.Unlock()
	if short && r.Method == http.MethodGet {
		w.Header().Set("Content-Length", fmt.Sprint(len(b)/2))
		w.Write(b[:len(b)/2])
		return
	}
	if noRanges {
		r.Header.Del("Range")
	}
	if (stall || silent) && r.Method == http.MethodGet {
		if stall {
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.WriteHeader(http.StatusOK)
			w.Write(b[:len(b)/2])
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done() // until the client hangs up
		return
	}
	if f.trickle > 0 && r.Method == http.MethodGet && r.Header.Get("Range") == "" {
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		for i := range 10 {
			time.Sleep(f.trickle)
			w.Write(b[i*len(b)/10 : (i+1)*len(b)/10])
			w.(http.Flusher).Flush()
		}
		return
	}
	if cut && r.Method == http.MethodGet {
		// Send half the file, then drop the connection.
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	http.ServeContent(w, r, name, time.Time{}, strings.NewReader(string(b)))
}

func opts(f *fakeHub, cache string) hub.Options {
	return hub.Options{CacheDir: cache, Endpoint: f.hub.URL, Client: f.hub.Client()}
}

func TestDownloadLayout(t *testing.T) {
	t.Setenv("HF_HUB_OFFLINE", "")
	f := newFakeHub(t, "blip-tiny-b", "acme/blip-tiny")
	cache := t.TempDir()
	var progressed bool
	o := opts(f, cache)
	o.Progress = func(string, int64, int64) { progressed = true }
	dir, err := hub.Snapshot(context.Background(), "acme/blip-tiny", o)
	if err != nil {
		t.Fatal(err)
	}
	repoDir := filepath.Join(cache, "models--acme--blip-tiny")
	if dir != filepath.Join(repoDir, "snapshots", commit) {
		t.Errorf("snapshot dir %s", dir)
	}
	if ref, _ := os.ReadFile(filepath.Join(repoDir, "refs", "main")); string(ref) != commit {
		t.Errorf("refs/main = %q", ref)
	}
	for name, want := range f.files {
		link := filepath.Join(dir, name)
		target, err := os.Readlink(link)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if target != filepath.Join("..", "..", "blobs", etag(name, want)) {
			t.Errorf("%s -> %s", name, target)
		}
		got, err := os.ReadFile(link)
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: content differs (%v)", name, err)
		}
	}
	if !progressed {
		t.Error("no progress reported")
	}
	// A second call finds everything cached and downloads nothing.
	before := len(f.ranges)
	if _, err := hub.Snapshot(context.Background(), "acme/blip-tiny", opts(f, cache)); err != nil {
		t.Fatal(err)
	}
	if len(f.ranges) != before {
		t.Error("cached blobs were downloaded again")
	}
}

func TestResumeInterruptedDownload(t *testing.T) {
	t.Setenv("HF_HUB_OFFLINE", "")
	f := newFakeHub(t, "blip-tiny-a", "acme/blip-tiny")
	f.cutOnce["model.safetensors"] = true
	cache := t.TempDir()
	_, err := hub.Snapshot(context.Background(), "acme/blip-tiny", opts(f, cache))
	if err == nil || !strings.Contains(err.Error(), "model.safetensors") {
		t.Fatalf("interrupted download: error %v", err)
	}
	blobs := filepath.Join(cache, "models--acme--blip-tiny", "blobs")
	whole := filepath.Join(blobs, etag("model.safetensors", f.files["model.safetensors"]))
	if _, err := os.Stat(whole); err == nil {
		t.Fatal("a partial file was stored under its final name")
	}
	part, err := os.Stat(whole + ".incomplete")
	if err != nil || part.Size() == 0 {
		t.Fatalf("no partial download kept: %v", err)
	}
	if _, err := hub.Snapshot(context.Background(), "acme/blip-tiny", opts(f, cache)); err != nil {
		t.Fatal(err)
	}
	if last := f.ranges[len(f.ranges)-1]; last != fmt.Sprintf("bytes=%d-", part.Size()) {
		t.Errorf("resume sent Range %q, want bytes=%d-", last, part.Size())
	}
	got, _ := os.ReadFile(whole)
	if string(got) != string(f.files["model.safetensors"]) {
		t.Error("resumed file differs from the original")
	}
}

// TestStalledDownload: a download that receives nothing for StallTimeout, after half the
// file or before its headers, fails with ErrStalled naming the file and keeps what it has,
// and the next run resumes it; HF_HUB_DOWNLOAD_TIMEOUT sets the limit when the option does
// not, and HF_HUB_ETAG_TIMEOUT the metadata requests'.
func TestStalledDownload(t *testing.T) {
	t.Setenv("HF_HUB_OFFLINE", "")
	t.Setenv("HF_HUB_DOWNLOAD_TIMEOUT", "0.3")
	for _, silent := range []bool{false, true} {
		f := newFakeHub(t, "blip-tiny-a", "acme/blip-tiny")
		if silent {
			f.silentOnce["model.safetensors"] = true
		} else {
			f.stallOnce["model.safetensors"] = true
		}
		cache := t.TempDir()
		start := time.Now()
		_, err := hub.Snapshot(context.Background(), "acme/blip-tiny", opts(f, cache))
		if !errors.Is(err, hub.ErrStalled) || !strings.Contains(err.Error(), "model.safetensors") {
			t.Fatalf("silent %v: error %v, want ErrStalled naming the file", silent, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("silent %v: gave up after %v, with a limit of 0.3 s", silent, d)
		}
		part, err := os.Stat(filepath.Join(cache, "models--acme--blip-tiny", "blobs", etag("model.safetensors", f.files["model.safetensors"])+".incomplete"))
		if want := int64(len(f.files["model.safetensors"]) / 2); silent {
			want = 0
			if err != nil || part.Size() != want {
				t.Errorf("silent: partial file %v %v, want %d bytes", part, err, want)
			}
		} else if err != nil || part.Size() != want {
			t.Errorf("stalled: partial file %v %v, want %d bytes", part, err, want)
		}
		if _, err := hub.Snapshot(context.Background(), "acme/blip-tiny", opts(f, cache)); err != nil {
			t.Fatalf("silent %v: the next run: %v", silent, err)
		}
	}
	// A hub that answers no metadata request fails the snapshot after HF_HUB_ETAG_TIMEOUT.
	t.Setenv("HF_HUB_ETAG_TIMEOUT", "0.3")
	silentHub := newFakeHub(t, "blip-tiny-a", "acme/blip-tiny")
	silentHub.silentHub = true
	start := time.Now()
	if _, err := hub.Snapshot(context.Background(), "acme/blip-tiny", opts(silentHub, t.TempDir())); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a silent hub: %v, want a deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a silent hub: gave up after %v, with a limit of 0.3 s", d)
	}
	// A slow download that keeps receiving is not cut: 1 s in all, 0.1 s between pieces.
	f := newFakeHub(t, "blip-tiny-a", "acme/blip-tiny")
	f.trickle = 100 * time.Millisecond
	if _, err := hub.Snapshot(context.Background(), "acme/blip-tiny", opts(f, t.TempDir())); err != nil {
		t.Fatalf("a slow download: %v", err)
	}
}

func TestOfflineAndRevisions(t *testing.T) {
	f := newFakeHub(t, "blip-tiny-b", "acme/blip-tiny")
	cache := t.TempDir()
	t.Setenv("HF_HUB_OFFLINE", "")
	o := opts(f, cache)
	o.Revision = "v1"
	if _, err := hub.Snapshot(context.Background(), "acme/blip-tiny", o); err != nil {
		t.Fatal(err)
	}
	f.hub.Close()
	// The hub is gone but nobody said offline: the cache serves, as with the Python client.
	o.Endpoint = f.hub.URL
	if dir, err := hub.Snapshot(context.Background(), "acme/blip-tiny", o); err != nil || filepath.Base(dir) != commit {
		t.Errorf("unreachable hub with a cached snapshot: %s %v", dir, err)
	}
	t.Setenv("HF_HUB_OFFLINE", "1")
	for _, rev := range []string{"v1", commit} {
		o := hub.Options{CacheDir: cache, Revision: rev, Endpoint: "http://127.0.0.1:1"}
		dir, err := hub.Snapshot(context.Background(), "acme/blip-tiny", o)
		if err != nil || filepath.Base(dir) != commit {
			t.Errorf("offline %s: %s %v", rev, dir, err)
		}
	}
	if _, err := hub.Snapshot(context.Background(), "acme/blip-tiny", hub.Options{CacheDir: cache}); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("offline main (never downloaded): %v", err)
	}
}

func TestErrors(t *testing.T) {
	t.Setenv("HF_HUB_OFFLINE", "")
	f := newFakeHub(t, "blip-tiny-b", "acme/blip-tiny")
	cache := t.TempDir()
	if _, err := hub.Snapshot(context.Background(), "acme/nope", opts(f, cache)); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("missing repo: %v", err)
	}
	f.token = "s3cret"
	if _, err := hub.Snapshot(context.Background(), "acme/blip-tiny", opts(f, cache)); !errors.Is(err, hub.ErrUnauthorized) {
		t.Errorf("gated without token: %v", err)
	}
	t.Setenv("HF_TOKEN", "s3cret")
	if _, err := hub.Snapshot(context.Background(), "acme/blip-tiny", opts(f, cache)); err != nil {
		t.Errorf("with HF_TOKEN: %v", err)
	}
	if _, err := hub.Snapshot(context.Background(), "old-org/blip-tiny", opts(f, t.TempDir())); err != nil {
		t.Errorf("renamed repository (same-host redirect): %v", err)
	}
	if _, err := hub.Snapshot(context.Background(), "../etc", opts(f, cache)); err == nil {
		t.Error("path-like repo id accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := hub.Snapshot(ctx, "acme/blip-tiny", opts(f, t.TempDir())); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestCacheDirFromEnvironment(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_HOME", "/data/hf")
	if d := hub.CacheDir(); d != "/data/hf/hub" {
		t.Errorf("HF_HOME: %s", d)
	}
	t.Setenv("HF_HUB_CACHE", "/x/cache")
	if d := hub.CacheDir(); d != "/x/cache" {
		t.Errorf("HF_HUB_CACHE: %s", d)
	}
}

// TestExtraFiles: a snapshot of another model kind fetches the files it names (a MarianMT
// model's SentencePiece files and vocabulary) into the same layout.
func TestExtraFiles(t *testing.T) {
	t.Setenv("HF_HUB_OFFLINE", "")
	f := newFakeHub(t, "marian/marian-tiny", "acme/opus-mt-tiny")
	o := opts(f, t.TempDir())
	o.Files = []string{"source.spm", "target.spm", "vocab.json"}
	dir, err := hub.Snapshot(context.Background(), "acme/opus-mt-tiny", o)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range append(o.Files, "config.json", "model.safetensors", "generation_config.json") {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != string(f.files[name]) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestUnusableAnswers: what a hub or CDN gets wrong fails the snapshot with the file named,
// storing nothing under a blob's name: an ETag that is no file name (it names the blob), a
// status refusing a file (named in the message), a redirect loop, a repository id with "..",
// and a CDN answer shorter than the X-Linked-Size the hub gave.
func TestUnusableAnswers(t *testing.T) {
	t.Setenv("HF_HUB_OFFLINE", "")
	for _, e := range []string{`".."`, `"."`, `"a/b"`, `"a\\b"`, `""`} {
		f := newFakeHub(t, "blip-tiny-b", "acme/blip-tiny")
		f.etags["config.json"] = e
		cache := t.TempDir()
		_, err := hub.Snapshot(context.Background(), "acme/blip-tiny", opts(f, cache))
		if err == nil || !strings.Contains(err.Error(), "config.json: the server gave no usable ETag") {
			t.Errorf("ETag %s: %v", e, err)
		}
		if blobs, _ := os.ReadDir(filepath.Join(cache, "models--acme--blip-tiny", "blobs")); len(blobs) != 0 {
			t.Errorf("ETag %s: blobs stored: %v", e, blobs)
		}
	}
	for _, code := range []int{http.StatusBadRequest, http.StatusInternalServerError} {
		f := newFakeHub(t, "blip-tiny-b", "acme/blip-tiny")
		f.status["config.json"] = code
		_, err := hub.Snapshot(context.Background(), "acme/blip-tiny", opts(f, t.TempDir()))
		if want := fmt.Sprintf("config.json: %s/acme/blip-tiny/resolve/main/config.json: HTTP %d", f.hub.URL, code); err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("HTTP %d: %v, want ...%s", code, err, want)
		}
	}
	f := newFakeHub(t, "blip-tiny-b", "acme/blip-tiny")
	if _, err := hub.Snapshot(context.Background(), "loop-org/blip-tiny", opts(f, t.TempDir())); err == nil || !strings.Contains(err.Error(), "too many redirects") {
		t.Errorf("redirect loop: %v", err)
	}
	if _, err := hub.Snapshot(context.Background(), "acme/blip..tiny", opts(f, t.TempDir())); err == nil || !strings.Contains(err.Error(), "is not a repository id") {
		t.Errorf("an id with \"..\": %v", err)
	}
	f = newFakeHub(t, "blip-tiny-a", "acme/blip-tiny")
	f.shortOnce["model.safetensors"] = true
	cache := t.TempDir()
	_, err := hub.Snapshot(context.Background(), "acme/blip-tiny", opts(f, cache))
	n := len(f.files["model.safetensors"])
	if want := fmt.Sprintf("model.safetensors: got %d of %d bytes", n/2, n); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("short answer: %v, want %q", err, want)
	}
	if _, err := os.Stat(filepath.Join(cache, "models--acme--blip-tiny", "blobs", etag("model.safetensors", f.files["model.safetensors"]))); err == nil {
		t.Error("a short answer was stored under the blob's name")
	}
}

// TestResumeEdges: a partial file that is already whole (a run stopped between its last write
// and the rename) is used without a request, one longer than the file is started again, and a
// CDN that ignores Range gets the whole file written from the start, not after the partial.
func TestResumeEdges(t *testing.T) {
	t.Setenv("HF_HUB_OFFLINE", "")
	for _, c := range []struct {
		name     string
		partial  func(b []byte) []byte
		noRanges bool
		gets     int // GETs of the file the CDN should see
	}{
		{"whole", func(b []byte) []byte { return b }, false, 0},
		{"longer", func(b []byte) []byte { return append(append([]byte(nil), b...), "trailing"...) }, false, 1},
		{"no ranges", func(b []byte) []byte { return b[:len(b)/3] }, true, 1},
	} {
		f := newFakeHub(t, "blip-tiny-a", "acme/blip-tiny")
		f.noRanges = c.noRanges
		want := f.files["model.safetensors"]
		cache := t.TempDir()
		blob := filepath.Join(cache, "models--acme--blip-tiny", "blobs", etag("model.safetensors", want))
		if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(blob+".incomplete", c.partial(want), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := hub.Snapshot(context.Background(), "acme/blip-tiny", opts(f, cache)); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got, _ := os.ReadFile(blob); string(got) != string(want) {
			t.Errorf("%s: the blob differs from the file (%d bytes, want %d)", c.name, len(got), len(want))
		}
		if gets := len(f.ranges); gets != c.gets {
			t.Errorf("%s: the CDN saw %d requests (%q), want %d", c.name, gets, f.ranges, c.gets)
		}
	}
}

// TestProgressAndClient: the client given is the one used, and a file arriving in pieces is
// reported as it comes and once whole.
func TestProgressAndClient(t *testing.T) {
	t.Setenv("HF_HUB_OFFLINE", "")
	f := newFakeHub(t, "blip-tiny-a", "acme/blip-tiny")
	f.trickle = 120 * time.Millisecond
	var used int
	o := opts(f, t.TempDir())
	base := o.Client.Transport
	o.Client = &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		used++
		return base.RoundTrip(r)
	})}
	var reports []int64
	total := int64(len(f.files["model.safetensors"]))
	o.Progress = func(file string, done, n int64) {
		if file == "model.safetensors" {
			if n != total {
				t.Errorf("progress total %d, want %d", n, total)
			}
			reports = append(reports, done)
		}
	}
	if _, err := hub.Snapshot(context.Background(), "acme/blip-tiny", o); err != nil {
		t.Fatal(err)
	}
	if used == 0 {
		t.Error("the Options' client was not used")
	}
	if len(reports) < 2 || reports[0] >= total || reports[len(reports)-1] != total {
		t.Errorf("progress %v of %d: want reports on the way and one at the end", reports, total)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestIsRepoID: ORG/NAME is a hub id unless a file or folder of that name exists here or it
// holds "..".
func TestIsRepoID(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.MkdirAll("local/model", 0o755); err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{"Salesforce/blip-image-captioning-large": true, "local/model": false, "a..b/c": false, "org/name/extra": false, "/abs/path": false, "name": false, "": false} {
		if got := hub.IsRepoID(s); got != want {
			t.Errorf("IsRepoID(%q) = %v, want %v", s, got, want)
		}
	}
}

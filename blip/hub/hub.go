// Package hub finds and downloads Hugging Face model snapshots the way the Python client
// (huggingface_hub) does, sharing its cache:
//
//	$HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub
//	  models--ORG--NAME/
//	    refs/main                   the commit a revision name points to
//	    blobs/ETAG                  file contents, named by their ETag
//	    snapshots/COMMIT/FILE       relative symlinks to ../../blobs/ETAG
//
// Downloads go to blobs/ETAG.incomplete, resume from where an interrupted one stopped (an HTTP
// Range request), and are renamed into place only when complete, so a half file is never taken
// for a whole one. HF_TOKEN is sent as a bearer token, HF_ENDPOINT replaces
// https://huggingface.co, and HF_HUB_OFFLINE=1 resolves from the cache alone.
package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Options configure Download. The zero value reads the environment as the Python client does.
type Options struct {
	Revision string // branch, tag or commit; "" means "main"
	CacheDir string // "" means $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub
	Endpoint string // "" means $HF_ENDPOINT or https://huggingface.co
	Token    string // "" means $HF_TOKEN
	Offline  bool   // also set by HF_HUB_OFFLINE=1
	Client   *http.Client
	// Progress, when set, is called as each file downloads: name, bytes so far, total (-1 if
	// unknown).
	Progress func(file string, done, total int64)
	// Files are more files the snapshot needs besides a BLIP model's (a MarianMT model's
	// source.spm, target.spm and vocab.json, say); each is required.
	Files []string
	// MetadataTimeout bounds each metadata request (HEAD), and StallTimeout how long a
	// download may go without a byte (its response's headers included) before it fails with
	// ErrStalled, keeping what it has for the next run to resume: the Python client's
	// HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT, read from those variables (seconds)
	// when zero, else 10 s each. A download as a whole has no limit but its context's: a
	// slow link finishes, a dead or silent one fails.
	MetadataTimeout, StallTimeout time.Duration
}

// ErrStalled is wrapped when a download receives nothing for Options.StallTimeout.
var ErrStalled = errors.New("download stalled")

// Files a BLIP snapshot may hold. config.json is required; so is either model.safetensors or
// the index (and its shards); the others are fetched when the repository has them.
var (
	requiredFiles = []string{"config.json"}
	optionalFiles = []string{"preprocessor_config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json", "generation_config.json"}
)

// ErrNotFound is wrapped when a repository, revision or file does not exist (HTTP 404, or
// absent from the cache offline).
var ErrNotFound = errors.New("not found")

// ErrUnauthorized is wrapped when the hub refuses access (HTTP 401 or 403): a gated or private
// repository without a valid HF_TOKEN.
var ErrUnauthorized = errors.New("unauthorized (set HF_TOKEN for gated or private models)")

// defaultTimeout is the Python client's for metadata and for a download's reads.
const defaultTimeout = 10 * time.Second

// envTimeout is the duration of the environment variable name, in seconds, where it holds a
// positive number, else defaultTimeout.
func envTimeout(name string) time.Duration {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil && v > 0 && v < 1e9 {
		return time.Duration(v * float64(time.Second))
	}
	return defaultTimeout
}

var repoIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$`)

// IsRepoID tells whether s looks like a hub id ("ORG/NAME") rather than a local path.
func IsRepoID(s string) bool {
	if _, err := os.Stat(s); err == nil {
		return false
	}
	return repoIDPattern.MatchString(s) && !strings.Contains(s, "..")
}

func (o *Options) fill() {
	if o.Revision == "" {
		o.Revision = "main"
	}
	if o.CacheDir == "" {
		o.CacheDir = CacheDir()
	}
	if o.Endpoint == "" {
		o.Endpoint = os.Getenv("HF_ENDPOINT")
	}
	if o.Endpoint == "" {
		o.Endpoint = "https://huggingface.co"
	}
	o.Endpoint = strings.TrimRight(o.Endpoint, "/")
	if o.Token == "" {
		o.Token = os.Getenv("HF_TOKEN")
	}
	if v := strings.ToLower(os.Getenv("HF_HUB_OFFLINE")); v == "1" || v == "true" || v == "yes" || v == "on" {
		o.Offline = true
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 0} // bodies are large; StallTimeout and the context bound the wait
	}
	if o.MetadataTimeout <= 0 {
		o.MetadataTimeout = envTimeout("HF_HUB_ETAG_TIMEOUT")
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = envTimeout("HF_HUB_DOWNLOAD_TIMEOUT")
	}
}

// CacheDir is the hub cache the Python client uses.
func CacheDir() string {
	if d := os.Getenv("HF_HUB_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("HF_HOME"); d != "" {
		return filepath.Join(d, "hub")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	return filepath.Join(home, ".cache", "huggingface", "hub")
}

// repoFolder is the cache folder of a model repository.
func repoFolder(cache, repo string) string {
	return filepath.Join(cache, "models--"+strings.ReplaceAll(repo, "/", "--"))
}

var commitPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Snapshot returns the folder of the snapshot of repo at the given revision, downloading what
// the cache lacks (nothing, offline).
func Snapshot(ctx context.Context, repo string, opts Options) (string, error) {
	opts.fill()
	if !repoIDPattern.MatchString(repo) || strings.Contains(repo, "..") {
		return "", fmt.Errorf("hub: %q is not a repository id (ORG/NAME)", repo)
	}
	folder := repoFolder(opts.CacheDir, repo)
	if opts.Offline {
		return offlineSnapshot(folder, repo, opts.Revision)
	}
	d := &downloader{opts: opts, repo: repo, folder: folder}
	if err := d.fetchAll(ctx); err != nil {
		// Like the Python client, fall back on the cache when the hub cannot be reached at all
		// (not when it answered that the model is missing or private, nor when a transfer
		// broke off: that snapshot is incomplete).
		var answered *httpStatusError
		if d.commit == "" && ctx.Err() == nil && !errors.As(err, &answered) {
			if dir, cacheErr := offlineSnapshot(folder, repo, opts.Revision); cacheErr == nil {
				return dir, nil
			}
		}
		return "", err
	}
	return filepath.Join(folder, "snapshots", d.commit), nil
}

func (d *downloader) fetchAll(ctx context.Context) error {
	for _, f := range append(requiredFiles, d.opts.Files...) {
		if err := d.fetch(ctx, f, false); err != nil {
			return err
		}
	}
	for _, f := range optionalFiles {
		if err := d.fetch(ctx, f, true); err != nil {
			return err
		}
	}
	return d.fetchWeights(ctx)
}

// httpStatusError is an answer from the server refusing a request.
type httpStatusError struct {
	url    string
	status int
	err    error // ErrNotFound, ErrUnauthorized or nil
}

func (e *httpStatusError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%s: HTTP %d: %v", e.url, e.status, e.err)
	}
	return fmt.Sprintf("%s: HTTP %d", e.url, e.status)
}

func (e *httpStatusError) Unwrap() error { return e.err }

func offlineSnapshot(folder, repo, revision string) (string, error) {
	commit := revision
	if !commitPattern.MatchString(revision) {
		ref, err := os.ReadFile(filepath.Join(folder, "refs", revision))
		if err != nil {
			return "", fmt.Errorf("hub: offline: %s at %s is not in the cache %s: %w", repo, revision, filepath.Dir(folder), ErrNotFound)
		}
		commit = strings.TrimSpace(string(ref))
	}
	dir := filepath.Join(folder, "snapshots", commit)
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		return "", fmt.Errorf("hub: offline: snapshot %s of %s has no config.json: %w", commit, repo, ErrNotFound)
	}
	return dir, nil
}

// downloader fetches the files of one snapshot.
type downloader struct {
	opts   Options
	repo   string
	folder string
	commit string
}

func (d *downloader) fetchWeights(ctx context.Context) error {
	err := d.fetch(ctx, "model.safetensors.index.json", true)
	if err != nil {
		return err
	}
	index := filepath.Join(d.folder, "snapshots", d.commit, "model.safetensors.index.json")
	data, err := os.ReadFile(index)
	if errors.Is(err, os.ErrNotExist) {
		return d.fetch(ctx, "model.safetensors", false)
	}
	if err != nil {
		return err
	}
	shards, err := shardNames(data)
	if err != nil {
		return fmt.Errorf("hub: %s: %s: %w", d.repo, "model.safetensors.index.json", err)
	}
	for _, s := range shards {
		if err := d.fetch(ctx, s, false); err != nil {
			return err
		}
	}
	return nil
}

// fetch makes snapshots/COMMIT/name exist, downloading its blob when missing. A missing
// optional file is not an error.
func (d *downloader) fetch(ctx context.Context, name string, optional bool) error {
	u := fmt.Sprintf("%s/%s/resolve/%s/%s", d.opts.Endpoint, d.repo, url.PathEscape(d.opts.Revision), name)
	meta, err := d.head(ctx, u)
	if err != nil {
		if optional && errors.Is(err, ErrNotFound) {
			return nil
		}
		return fmt.Errorf("hub: %s: %s: %w", d.repo, name, err)
	}
	if d.commit == "" {
		d.commit = meta.commit
		if !commitPattern.MatchString(d.commit) {
			return fmt.Errorf("hub: %s: the server gave no valid X-Repo-Commit for %s", d.repo, d.opts.Revision)
		}
		if d.opts.Revision != d.commit {
			if err := writeAtomic(filepath.Join(d.folder, "refs", d.opts.Revision), []byte(d.commit)); err != nil {
				return err
			}
		}
	} else if meta.commit != d.commit {
		return fmt.Errorf("hub: %s: %s is at commit %s, the snapshot at %s (the revision moved during the download)", d.repo, name, meta.commit, d.commit)
	}
	blob := filepath.Join(d.folder, "blobs", meta.etag)
	link := filepath.Join(d.folder, "snapshots", d.commit, name)
	if _, err := os.Stat(blob); err != nil {
		if err := d.download(ctx, meta, name, blob); err != nil {
			return fmt.Errorf("hub: %s: %s: %w", d.repo, name, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(link), blob)
	if err != nil {
		return err
	}
	os.Remove(link)
	if err := os.Symlink(rel, link); err != nil {
		// Where symlinks are not allowed, the Python client copies; so do we.
		return copyFile(blob, link)
	}
	return nil
}

type fileMeta struct {
	url    string // where to GET the content (after redirects to other hosts)
	commit string
	etag   string
	size   int64
}

// head asks for a file's metadata without its content, following same-host redirects (renamed
// repositories) but stopping at redirects to other hosts (the CDN serving large files), whose
// URL is then where the content is fetched from.
func (d *downloader) head(ctx context.Context, u string) (*fileMeta, error) {
	client := *d.opts.Client
	// Every redirect comes back to the loop below, which counts them.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	// Like the Python client's, metadata requests give up after MetadataTimeout (10 s unless
	// HF_HUB_ETAG_TIMEOUT says otherwise), so an unreachable hub fails instead of hanging.
	ctx, cancel := context.WithTimeout(ctx, d.opts.MetadataTimeout)
	defer cancel()
	for hops := 0; ; hops++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
		if err != nil {
			return nil, err
		}
		d.authorize(req)
		req.Header.Set("Accept-Encoding", "identity")
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		if err := statusError(resp); err != nil {
			return nil, err
		}
		meta := &fileMeta{url: u, commit: resp.Header.Get("X-Repo-Commit")}
		meta.etag = normalizeETag(resp.Header.Get("X-Linked-Etag"))
		if meta.etag == "" {
			meta.etag = normalizeETag(resp.Header.Get("ETag"))
		}
		meta.size = resp.ContentLength
		if s := resp.Header.Get("X-Linked-Size"); s != "" {
			fmt.Sscan(s, &meta.size)
		}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			loc, err := resp.Location()
			if err != nil {
				return nil, fmt.Errorf("redirect without a location: %w", err)
			}
			if hops > 10 {
				return nil, errors.New("too many redirects")
			}
			if loc.Host == req.URL.Host {
				u = loc.String()
				continue
			}
			meta.url = loc.String()
		}
		if meta.etag == "" || strings.ContainsAny(meta.etag, `/\`) || meta.etag == "." || meta.etag == ".." {
			return nil, fmt.Errorf("the server gave no usable ETag")
		}
		return meta, nil
	}
}

func (d *downloader) authorize(req *http.Request) {
	if d.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+d.opts.Token)
	}
	req.Header.Set("User-Agent", "blipgo")
}

func statusError(resp *http.Response) error {
	e := &httpStatusError{url: resp.Request.URL.String(), status: resp.StatusCode}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		e.err = ErrNotFound
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		e.err = ErrUnauthorized
	case resp.StatusCode < 400:
		return nil
	}
	return e
}

func normalizeETag(s string) string {
	s = strings.TrimPrefix(strings.TrimSpace(s), "W/")
	return strings.Trim(s, `"`)
}

// download writes the file's content to blob through blob.incomplete, resuming a previous
// partial download with a Range request, and renames it into place when whole.
func (d *downloader) download(ctx context.Context, meta *fileMeta, name, blob string) error {
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return err
	}
	part := blob + ".incomplete"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	switch {
	case meta.size >= 0 && have > meta.size:
		if err := f.Truncate(0); err != nil {
			return err
		}
		have, _ = f.Seek(0, io.SeekStart)
	case meta.size > 0 && have == meta.size:
		// Whole already: a run stopped between the last write and the rename. Asking for
		// the rest would be refused (HTTP 416, a range past the end).
		return finish(f, part, blob)
	}
	// A watchdog cancels the request when StallTimeout passes without a byte: every write
	// of the body winds it again.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stalled := fmt.Errorf("%w: nothing received for %v (HF_HUB_DOWNLOAD_TIMEOUT)", ErrStalled, d.opts.StallTimeout)
	watchdog := time.AfterFunc(d.opts.StallTimeout, func() { cancel(stalled) })
	defer watchdog.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, meta.url, nil)
	if err != nil {
		return err
	}
	if sameHost(meta.url, d.opts.Endpoint) {
		d.authorize(req)
	}
	req.Header.Set("Accept-Encoding", "identity")
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, ErrStalled) {
			return cause
		}
		return err
	}
	defer resp.Body.Close()
	if err := statusError(resp); err != nil {
		return err
	}
	switch {
	case have > 0 && resp.StatusCode == http.StatusPartialContent:
		// resume
	case resp.StatusCode == http.StatusOK:
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		have = 0
	default:
		return fmt.Errorf("unexpected HTTP %d", resp.StatusCode)
	}
	w := &progressWriter{w: f, done: have, total: meta.size, name: name, report: d.opts.Progress,
		wrote: func() { watchdog.Reset(d.opts.StallTimeout) }}
	if _, err := io.Copy(w, resp.Body); err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, ErrStalled) {
			err = cause
		}
		return fmt.Errorf("interrupted after %d bytes (run again to resume): %w", w.done, err)
	}
	if meta.size >= 0 && w.done != meta.size {
		return fmt.Errorf("got %d of %d bytes (run again to resume)", w.done, meta.size)
	}
	return finish(f, part, blob)
}

// finish syncs and closes the whole download f (the file part) and renames it to blob.
func finish(f *os.File, part, blob string) error {
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(part, blob)
}

func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Host == ub.Host
}

type progressWriter struct {
	w           io.Writer
	done, total int64
	name        string
	report      func(string, int64, int64)
	wrote       func() // after every write
	last        time.Time
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	p.wrote()
	if p.report != nil && (time.Since(p.last) > 100*time.Millisecond || p.done == p.total) {
		p.last = time.Now()
		p.report(p.name, p.done, p.total)
	}
	return n, err
}

// writeAtomic writes data to path through a temporary file and a rename.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return writeAtomic(dst, data)
}

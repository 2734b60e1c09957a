// Command server is the BLIP web demo: a page to upload images and read their captions (the
// original "Image Semantics" app), and a JSON API beside it.
//
//	go run ./examples/server [-model M ...] [-addr :8080]
//
// -model may be given once per task: a captioning, a question-answering and an image-text
// matching checkpoint (the task is read from each); without it, the default captioning model.
//
//	POST /api/caption   the image as multipart field "image" or as the raw body; options
//	                    (prompt, beams, min_length, max_length, max_new_tokens,
//	                    repetition_penalty, length_penalty, no_repeat_ngram_size) as form fields
//	                    or query parameters. Answers {"caption": ..., "ids": [...], "seconds": ...}
//	                    With translate=ID (a -translate model), "translation" is added.
//	POST /api/answer    the same, with one or more "question" fields instead of "prompt" (the
//	                    image is encoded once for all): the first question's answer, and all:
//	                    {"question": ..., "answer": ..., "ids": [...], "answers": [{"question":
//	                    ..., "answer": ..., "ids": [...]}, ...], "seconds": ...}
//	POST /api/match     the image and one or more "text" fields:
//	                    {"matches": [{"text": ..., "itm_prob": F, "cosine": F}, ...], "seconds": ...}
//	GET  /healthz       {"status": "ok", "tasks": ["caption", ...]}
//
// Errors are {"error": ...} with 400 (not an image, malformed request), 404/405 (no such API
// path or method), 408 (body too slow), 413 (upload or pixel limit), 422 (option out of range,
// unknown field), 501 (no model for that task), 503 with Retry-After (every place taken: the
// body is not read), 504 (past -timeout). One log line per request goes to standard error.
//
// It stops accepting connections on SIGTERM or Ctrl-C and finishes the requests in flight.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/imagesemantics/blipgo/blip"
	"github.com/imagesemantics/blipgo/blip/hub"
	"github.com/imagesemantics/blipgo/tensor"
	"github.com/imagesemantics/blipgo/translate"
)

func main() {
	var models, translations modelFlags
	flag.Var(&models, "model", "snapshot folder or Hugging Face hub id, once per task (default "+blip.DefaultModel+")")
	flag.Var(&translations, "translate", "a MarianMT model (folder or hub id) captions can be translated with: ?translate=ID (repeatable)")
	revision := flag.String("revision", "main", "hub branch, tag or commit")
	addr := flag.String("addr", ":8080", "listen address")
	threads := flag.Int("threads", runtime.GOMAXPROCS(0), "threads per caption")
	maxUpload := flag.Int64("max-upload", 20<<20, "largest request body in bytes")
	maxPixels := flag.Int("max-pixels", 50_000_000, "largest image in pixels (checked before decoding)")
	workers := flag.Int("workers", 1, "captions computed at the same time")
	queue := flag.Int("queue", 8, "requests that may wait for a worker; more are refused with 503")
	timeout := flag.Duration("timeout", 2*time.Minute, "longest a request may take, from its admission")
	bodyTimeout := flag.Duration("body-timeout", 30*time.Second, "longest a request body may take to arrive")
	precision := flag.String("precision", "float32", "the models' linear layers: float32, bfloat16 or bfloat16x3 (see blip.BFloat16)")
	flag.Parse()
	prec, err := tensor.ParsePrecision(*precision)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server: -"+err.Error())
		os.Exit(2)
	}
	if *workers < 1 || *queue < 0 || *maxUpload < 1 || *maxPixels < 1 || *timeout <= 0 || *bodyTimeout <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	if len(models) == 0 {
		models = modelFlags{blip.DefaultModel}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var loaded []*blip.Model
	seen := map[blip.Task]string{}
	for _, name := range models {
		m, err := blip.LoadAny(ctx, name, blip.Threads(*threads), blip.Revision(*revision), blip.MaxPixels(*maxPixels), blip.WithPrecision(prec))
		if err != nil {
			log.Fatal(err)
		}
		defer m.Close()
		if other, dup := seen[m.Task()]; dup {
			log.Fatalf("%s and %s are both %s checkpoints: give one model per task", other, name, m.Task())
		}
		seen[m.Task()] = name
		loaded = append(loaded, m)
	}
	cfg := config{MaxUpload: *maxUpload, MaxPixels: *maxPixels, Workers: *workers, Queue: *queue, Timeout: *timeout, BodyTimeout: *bodyTimeout}
	s := newServer(cfg, loaded...)
	for _, id := range translations {
		tr, err := translate.LoadAny(ctx, id, *threads, hub.Options{Revision: *revision})
		if err != nil {
			log.Fatal(err)
		}
		defer tr.Close()
		s.translators[id] = tr
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("serving %s on http://%s (requests hold at most %d MB besides the models)\n", strings.Join(models, ", "), ln.Addr(), cfg.MemoryBound()>>20)
	if err := serve(ctx, ln, s, *timeout); err != nil {
		log.Fatal(err)
	}
}

// modelFlags is the repeatable -model flag.
type modelFlags []string

func (f *modelFlags) String() string     { return strings.Join(*f, ",") }
func (f *modelFlags) Set(v string) error { *f = append(*f, v); return nil }

// serve answers on ln until ctx is done, then stops accepting connections and waits up to
// grace for the requests in flight.
func serve(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// Request bodies have their own deadline (-body-timeout), set once admitted.
		WriteTimeout: grace + time.Minute,
		IdleTimeout:  2 * time.Minute,
	}
	done := make(chan error, 1)
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		done <- srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return <-done
}

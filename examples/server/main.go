// Command server is the BLIP web demo: a page to upload images and read their captions (the
// original "Image Semantics" app), and a JSON API beside it.
//
//	go run ./examples/server [-model M] [-addr :8080]
//
//	POST /api/caption   the image as multipart field "image" or as the raw body; options
//	                    (prompt, beams, min_length, max_length, max_new_tokens,
//	                    repetition_penalty, length_penalty, no_repeat_ngram_size) as form fields
//	                    or query parameters. Answers {"caption": ..., "ids": [...], "seconds": ...}
//	                    or {"error": ...} with 400 (not an image), 413 (upload or pixel limit),
//	                    422 (option out of range), 503 (queue full), 504 (timed out).
//	GET  /healthz       {"status": "ok"}
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
	"syscall"
	"time"

	"github.com/imagesemantics/blipgo/blip"
)

func main() {
	model := flag.String("model", blip.DefaultModel, "snapshot folder or Hugging Face hub id")
	revision := flag.String("revision", "main", "hub branch, tag or commit")
	addr := flag.String("addr", ":8080", "listen address")
	threads := flag.Int("threads", runtime.GOMAXPROCS(0), "threads per caption")
	maxUpload := flag.Int64("max-upload", 20<<20, "largest request body in bytes")
	maxPixels := flag.Int("max-pixels", 50_000_000, "largest image in pixels (checked before decoding)")
	workers := flag.Int("workers", 1, "captions computed at the same time")
	queue := flag.Int("queue", 8, "requests that may wait for a worker; more are refused with 503")
	timeout := flag.Duration("timeout", 2*time.Minute, "longest a caption request may take")
	flag.Parse()
	if *workers < 1 || *queue < 0 || *maxUpload < 1 || *maxPixels < 1 || *timeout <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m, err := blip.LoadAny(ctx, *model, blip.Threads(*threads), blip.Revision(*revision), blip.MaxPixels(*maxPixels))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	s := newServer(m, config{MaxUpload: *maxUpload, MaxPixels: *maxPixels, Workers: *workers, Queue: *queue, Timeout: *timeout})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("serving %s on http://%s\n", *model, ln.Addr())
	if err := serve(ctx, ln, s, *timeout); err != nil {
		log.Fatal(err)
	}
}

// serve answers on ln until ctx is done, then stops accepting connections and waits up to
// grace for the requests in flight.
func serve(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      grace + time.Minute,
		IdleTimeout:       2 * time.Minute,
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

// Command worker captions images from a NATS JetStream work queue (see internal/fleet for the
// streams and guarantees):
//
//	go run ./examples/worker -model M [-threads N] (-nats URL | -embedded DIR [-listen HOST:PORT])
//
// -nats joins an existing server or cluster (credentials with -creds, TLS with -tls-ca and
// -tls-cert/-tls-key, as the nats.go client takes them). Without it, -embedded DIR starts an
// in-process nats-server with JetStream stored in DIR, listening on -listen (127.0.0.1:4222):
// the single-machine default, to which submitters (caption -submit nats://127.0.0.1:4222) and
// more workers (-nats) connect. -metrics ADDR serves Prometheus metrics at /metrics.
//
// On SIGTERM or Ctrl-C the worker stops taking jobs and finishes the one in hand (within
// -job-timeout); a job it cannot finish is left to be redelivered.
//
// What a job may ask of the worker: at most -max-beams beams (8), lengths of -max-length
// (128) and -max-texts texts to match (32), the web API's bounds. What it may make it read:
// a job's path only inside the -files folder (none without it), and a job's URL only from
// public addresses unless -fetch-private (see fleet.Worker's Files and FetchPrivate).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/imagesemantics/blipgo/blip"
	"github.com/imagesemantics/blipgo/internal/fleet"
	"github.com/imagesemantics/blipgo/tensor"
)

func main() {
	model := flag.String("model", blip.DefaultModel, "snapshot folder or Hugging Face hub id")
	threads := flag.Int("threads", runtime.GOMAXPROCS(0), "threads per job")
	natsURL := flag.String("nats", "", "NATS server or cluster URL(s), comma-separated")
	creds := flag.String("creds", "", "NATS credentials file")
	tlsCA := flag.String("tls-ca", "", "CA certificate file for TLS to NATS")
	tlsCert := flag.String("tls-cert", "", "client certificate file for TLS to NATS (with -tls-key)")
	tlsKey := flag.String("tls-key", "", "client key file for TLS to NATS")
	embedded := flag.String("embedded", "", "start an in-process NATS server with JetStream stored in this folder")
	listen := flag.String("listen", "127.0.0.1:4222", "with -embedded: the address it listens on")
	name := flag.String("name", "", "this worker's name in results (default: host and pid)")
	maxUpload := flag.Int64("max-upload", 20<<20, "largest image in bytes (inline, file or download)")
	maxPixels := flag.Int("max-pixels", 50_000_000, "largest image in pixels")
	fetchTimeout := flag.Duration("fetch-timeout", 30*time.Second, "longest an image download may take")
	jobTimeout := flag.Duration("job-timeout", 5*time.Minute, "longest one job may take")
	ackWait := flag.Duration("ack-wait", time.Minute, "how long a silent worker holds a job before it is redelivered")
	metricsAddr := flag.String("metrics", "", "serve Prometheus metrics at http://ADDR/metrics")
	lim := blip.ServiceLimits()
	flag.IntVar(&lim.Beams, "max-beams", lim.Beams, "most beams a job may ask for (0: the library's 64)")
	flag.IntVar(&lim.Length, "max-length", lim.Length, "longest max_length, max_new_tokens or min_length a job may ask for (0: the model's positions)")
	flag.IntVar(&lim.Texts, "max-texts", lim.Texts, "most texts a job may match (0: no bound)")
	maxAttempts := flag.Int("max-attempts", fleet.DefaultMaxAttempts, "tries of a job that fails for a worker's reasons (or kills its worker) before it gets an error result and a dead letter; negative: no bound")
	files := flag.String("files", "", "read jobs' paths from this folder (relative to it, or absolute beneath it); without it, jobs with a path are refused")
	fetchPrivate := flag.Bool("fetch-private", false, "let URL jobs reach loopback, private, link-local and reserved addresses (by default only public ones)")
	precision := flag.String("precision", "float32", "the model's linear layers: float32, bfloat16 or bfloat16x3 (see blip.BFloat16)")
	flag.Parse()
	prec, err := tensor.ParsePrecision(*precision)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker: -"+err.Error())
		os.Exit(2)
	}
	if (*natsURL == "") == (*embedded == "") || *threads < 1 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "worker: give -nats URL or -embedded DIR (one of them)")
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, config{
		model: *model, threads: *threads, natsURL: *natsURL, creds: *creds, tlsCA: *tlsCA, tlsCert: *tlsCert, tlsKey: *tlsKey,
		embedded: *embedded, listen: *listen, name: *name, maxUpload: *maxUpload, maxPixels: *maxPixels,
		fetchTimeout: *fetchTimeout, jobTimeout: *jobTimeout, ackWait: *ackWait, metrics: *metricsAddr, precision: prec,
		files: *files, fetchPrivate: *fetchPrivate, maxAttempts: *maxAttempts, limits: lim,
	}); err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
}

type config struct {
	model, natsURL, creds, tlsCA, tlsCert, tlsKey, embedded, listen, name, metrics, files string
	threads, maxPixels, maxAttempts                                                       int
	maxUpload                                                                             int64
	fetchTimeout, jobTimeout, ackWait                                                     time.Duration
	precision                                                                             tensor.Precision
	fetchPrivate                                                                          bool
	limits                                                                                blip.Limits
}

func run(ctx context.Context, c config) error {
	url := c.natsURL
	if c.embedded != "" {
		srv, err := fleet.StartEmbedded(c.embedded, c.listen)
		if err != nil {
			return err
		}
		defer srv.Shutdown()
		url = srv.ClientURL()
		fmt.Printf("embedded NATS JetStream on %s, stored in %s\n", url, c.embedded)
	}
	opts := []nats.Option{nats.Name("blipgo worker"), nats.MaxReconnects(-1)}
	if c.creds != "" {
		opts = append(opts, nats.UserCredentials(c.creds))
	}
	if c.tlsCA != "" {
		opts = append(opts, nats.RootCAs(c.tlsCA))
	}
	if c.tlsCert != "" {
		opts = append(opts, nats.ClientCert(c.tlsCert, c.tlsKey))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("worker: connecting to %s: %w", url, err)
	}
	defer nc.Drain()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if err := fleet.Setup(ctx, js, fleet.StreamsConfig{AckWait: c.ackWait}); err != nil {
		return err
	}
	m, err := blip.LoadAny(ctx, c.model, blip.Threads(c.threads), blip.MaxPixels(c.maxPixels), blip.WithPrecision(c.precision))
	if err != nil {
		return err
	}
	defer m.Close()
	for _, note := range m.Notes() {
		fmt.Fprintln(os.Stderr, "worker: note:", note)
	}
	name := c.name
	if name == "" {
		host, _ := os.Hostname()
		name = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	w := &fleet.Worker{Model: m, JS: js, Name: name, MaxImage: c.maxUpload, MaxPixels: c.maxPixels,
		FetchTimeout: c.fetchTimeout, JobTimeout: c.jobTimeout, AckWait: c.ackWait, FetchPrivate: c.fetchPrivate, MaxAttempts: c.maxAttempts, Limits: &c.limits}
	if c.files != "" {
		// Absolute, so that jobs may name their files by absolute paths beneath it too.
		dir, err := filepath.Abs(c.files)
		if err != nil {
			return fmt.Errorf("worker: -files %s: %w", c.files, err)
		}
		if w.Files, err = os.OpenRoot(dir); err != nil {
			return fmt.Errorf("worker: -files: %w", err)
		}
		defer w.Files.Close()
	}
	if c.metrics != "" {
		reg := prometheus.NewRegistry()
		w.Metrics = fleet.NewMetrics(reg, func() float64 { return queueDepth(js) })
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Addr: c.metrics, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.ListenAndServe()
		defer srv.Close()
	}
	fmt.Printf("worker %s: %s (%s) taking jobs\n", name, c.model, m.Task())
	return w.Run(ctx)
}

// queueDepth is the number of jobs waiting for a worker.
func queueDepth(js jetstream.JetStream) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	cons, err := js.Consumer(ctx, fleet.JobsStream, fleet.WorkerConsumer)
	if err != nil {
		return -1
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return -1
	}
	return float64(info.NumPending)
}

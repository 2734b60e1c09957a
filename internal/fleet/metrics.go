package fleet

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are a worker's Prometheus metrics: jobs by outcome, their latency, images done (its
// rate is images per second) and the queue's depth.
type Metrics struct {
	jobs    *prometheus.CounterVec
	seconds prometheus.Histogram
	images  prometheus.Counter
}

// NewMetrics registers a worker's metrics with reg; queueDepth, when not nil, is read at each
// scrape (the jobs waiting in the work queue).
func NewMetrics(reg prometheus.Registerer, queueDepth func() float64) *Metrics {
	m := &Metrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blip_worker_jobs_total", Help: "Jobs by outcome: done, dead (dead-lettered), retried (nak'ed for another try).",
		}, []string{"outcome"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "blip_worker_job_seconds", Help: "Time from a job's delivery to its settlement.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}),
		images: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "blip_worker_images_total", Help: "Images described; rate() of it is images per second.",
		}),
	}
	reg.MustRegister(m.jobs, m.seconds, m.images)
	if queueDepth != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "blip_queue_depth", Help: "Jobs waiting in the work queue.",
		}, queueDepth))
	}
	return m
}

// job records a settled job; a nil *Metrics records nothing.
func (m *Metrics) job(outcome string, start time.Time) {
	if m == nil {
		return
	}
	m.jobs.WithLabelValues(outcome).Inc()
	m.seconds.Observe(time.Since(start).Seconds())
	if outcome == "done" {
		m.images.Inc()
	}
}

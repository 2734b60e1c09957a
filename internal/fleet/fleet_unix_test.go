//go:build unix

package fleet

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSpecialFiles: a job naming a FIFO, a socket or a device in the worker's folder is
// refused at once as the job's fault. Before the folder and its checks, a FIFO's open blocked the worker for
// good, past its job timeout, while its in-progress acks kept the job from anyone else.
func TestSpecialFiles(t *testing.T) {
	c := newCluster(t, StreamsConfig{AckWait: 2 * time.Second})
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.png"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "socket.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	files := openRoot(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := tinyModel(t)
	w := newWorker(m, c.connect(), "w")
	w.Files = files
	stop := runWorker(ctx, w)
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	jobs := []Job{{ID: "fifo", Path: "fifo.png"}, {ID: "socket", Path: "socket.png"}}
	results, err := Submit(sctx, c.connect(), jobs, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	// A device: /dev/null, for a worker whose folder is /dev (making one needs privileges).
	dev := newWorker(m, c.connect(), "dev")
	dev.Files = openRoot(t, "/dev")
	stop = runWorker(ctx, dev)
	jobs = append(jobs, Job{ID: "device", Path: "null"})
	more, err := Submit(sctx, c.connect(), jobs[2:], nil)
	stop()
	if err != nil {
		t.Fatal(err)
	}
	results = append(results, more...)
	// The second line, for a name swapped for a FIFO after the check: the open itself does
	// not wait for a writer.
	opened := make(chan error, 1)
	go func() {
		f, err := files.OpenFile("fifo.png", openNonblocking, 0)
		if err == nil {
			f.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		if err != nil {
			t.Errorf("opening the FIFO: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("opening the FIFO blocked")
	}
	for i, want := range []string{`path "fifo.png": a FIFO, not a regular file`, `path "socket.png": a socket, not a regular file`, `path "null": a device, not a regular file`} {
		if !strings.Contains(results[i].Error, want) {
			t.Errorf("%s: error %q, want %q", jobs[i].ID, results[i].Error, want)
		}
	}
}

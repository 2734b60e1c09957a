package blip

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

// TestConcurrentCaptions: one model serves several goroutines at once (as the web demo's
// workers do), greedy and beam search mixed, and each gets the ids it would get alone; Close
// during the calls waits for them, and later calls get ErrClosed.
func TestConcurrentCaptions(t *testing.T) {
	m := loadModel(t, "blip-tiny-a")
	imgs := []string{"chelsea", "coffee", "astronaut"}
	want, wantBeam := map[string][]int{}, map[string][]int{}
	for _, name := range imgs {
		c, err := m.Caption(context.Background(), loadImage(t, m, name))
		if err != nil {
			t.Fatal(err)
		}
		want[name] = c.IDs
		if c, err = m.Caption(context.Background(), loadImage(t, m, name), Beams(2)); err != nil {
			t.Fatal(err)
		}
		wantBeam[name] = c.IDs
	}
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		name := imgs[i%3]
		img := loadImage(t, m, name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := []Option{}
			if i >= 3 {
				opts = append(opts, Beams(2))
			}
			c, err := m.Caption(context.Background(), img, opts...)
			if err != nil {
				t.Error(err)
				return
			}
			w := want[name]
			if i >= 3 {
				w = wantBeam[name]
			}
			if !slices.Equal(c.IDs, w) {
				t.Errorf("%s (%d): concurrent ids %v, alone %v", name, i, c.IDs, w)
			}
		}()
	}
	wg.Wait()
}

// TestCloseDuringCaptions: Close while captions run waits for them (each finishes with its
// ids, or, started after Close, returns ErrClosed), never a crash.
func TestCloseDuringCaptions(t *testing.T) {
	m := loadModel(t, "blip-tiny-a")
	img := loadImage(t, m, "chelsea")
	want, err := m.Caption(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, err := m.Caption(context.Background(), img)
			switch {
			case errors.Is(err, ErrClosed):
			case err != nil:
				t.Errorf("caption during Close: %v", err)
			case !slices.Equal(c.IDs, want.IDs):
				t.Errorf("caption during Close: ids %v, want %v", c.IDs, want.IDs)
			}
		}()
	}
	close(start)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := m.Caption(context.Background(), img); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

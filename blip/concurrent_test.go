package blip

import (
	"context"
	"slices"
	"sync"
	"testing"
)

// TestConcurrentCaptions: one model serves several goroutines at once (as the web demo's
// workers do) and each gets the ids it would get alone.
func TestConcurrentCaptions(t *testing.T) {
	m := loadModel(t, "blip-tiny-a")
	imgs := []string{"chelsea", "coffee", "astronaut"}
	want := map[string][]int{}
	for _, name := range imgs {
		c, err := m.Caption(context.Background(), loadImage(t, m, name))
		if err != nil {
			t.Fatal(err)
		}
		want[name] = c.IDs
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
			if i < 3 && !slices.Equal(c.IDs, want[name]) {
				t.Errorf("%s: concurrent ids %v, alone %v", name, c.IDs, want[name])
			}
		}()
	}
	wg.Wait()
}

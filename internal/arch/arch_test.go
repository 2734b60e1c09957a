package arch

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/imagesemantics/blipgo/bert"
	"github.com/imagesemantics/blipgo/internal/golden"
)

// TestParamsMatchGoldenModels: for each golden checkpoint (captioning, question answering,
// matching), the table finds its class and declares exactly its tensors with their shapes;
// a tensor the checkpoint holds beyond them is a tie alias the table names.
func TestParamsMatchGoldenModels(t *testing.T) {
	data, err := os.ReadFile(golden.Path("cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases struct {
		Models map[string]json.RawMessage
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ model, class string }{
		{"blip-tiny-a", "BlipForConditionalGeneration"}, {"blip-tiny-b", "BlipForConditionalGeneration"},
		{"blip-tiny-vqa", "BlipForQuestionAnswering"}, {"blip-tiny-itm", "BlipForImageTextRetrieval"},
	} {
		t.Run(c.model, func(t *testing.T) {
			var m struct {
				Tensors map[string][]json.RawMessage // name -> [dtype, shape, file]
			}
			if err := json.Unmarshal(cases.Models[c.model], &m); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(golden.Path("models", c.model, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := ParseConfig(b)
			if err != nil {
				t.Fatal(err)
			}
			a, err := Find(cfg, func(name string) bool { _, ok := m.Tensors[name]; return ok })
			if err != nil || a.Name != c.class {
				t.Fatalf("found %v, %v; want %s", a, err, c.class)
			}
			declared := map[string]bool{}
			for _, p := range a.Params(cfg) {
				declared[p.Name] = true
				got, ok := m.Tensors[p.Name]
				if !ok {
					t.Errorf("declared %s is not in the checkpoint", p.Name)
					continue
				}
				var shape []int
				json.Unmarshal(got[1], &shape)
				if fmt.Sprint(shape) != fmt.Sprint(p.Shape) {
					t.Errorf("%s: declared %v, checkpoint %v", p.Name, p.Shape, shape)
				}
			}
			parts := a.Modules(cfg)
			var aliases []string
			for _, g := range parts.Ties(cfg) {
				aliases = append(aliases, g[1:]...)
			}
			for name := range m.Tensors {
				if !declared[name] && !slices.Contains(aliases, name) {
					t.Errorf("checkpoint tensor %s is neither declared nor a tie alias", name)
				}
			}
		})
	}
}

// TestTaskString: each task is named by its architecture's class; an unknown one by number.
func TestTaskString(t *testing.T) {
	for _, a := range Architectures {
		if got := a.Task.String(); got != a.Name {
			t.Errorf("%s's task is named %q", a.Name, got)
		}
	}
	if got := Task(0).String(); got != "Task(0)" {
		t.Errorf("Task(0) is named %q", got)
	}
}

// TestImageTextHiddenSize: absent (or 0) it is BlipConfig's default 256; 1 to bert.MaxWidth
// are taken as given, and what lies outside is refused naming the key.
func TestImageTextHiddenSize(t *testing.T) {
	for _, c := range []struct{ set, want int }{{0, 256}, {1, 1}, {bert.MaxWidth, bert.MaxWidth}} {
		cfg, err := ParseConfig(fmt.Appendf(nil, `{"image_text_hidden_size": %d}`, c.set))
		if err != nil || cfg.ImageTextHiddenSize != c.want {
			t.Errorf("image_text_hidden_size %d: %v, %v; want %d", c.set, cfg, err, c.want)
		}
	}
	for _, set := range []int{-1, bert.MaxWidth + 1} {
		_, err := ParseConfig(fmt.Appendf(nil, `{"image_text_hidden_size": %d}`, set))
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("image_text_hidden_size %d", set)) {
			t.Errorf("image_text_hidden_size %d: error %v", set, err)
		}
	}
}

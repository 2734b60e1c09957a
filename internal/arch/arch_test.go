package arch

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"

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

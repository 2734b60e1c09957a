package hub

import (
	"slices"
	"strings"
	"testing"
)

// TestShardNames: a model.safetensors.index.json's shards are listed once each, sorted; a
// name that is not a plain file name of the snapshot (empty, with a folder, absolute, hidden
// or a parent) is refused before anything is fetched, as are an empty map and bad JSON.
func TestShardNames(t *testing.T) {
	got, err := shardNames([]byte(`{"weight_map": {"a": "m-2.safetensors", "b": "m-1.safetensors", "c": "m-2.safetensors"}}`))
	if err != nil || !slices.Equal(got, []string{"m-1.safetensors", "m-2.safetensors"}) {
		t.Errorf("shardNames = %v, %v", got, err)
	}
	for _, bad := range []string{"", "../m.safetensors", "sub/m.safetensors", "/m.safetensors", ".m.safetensors", ".."} {
		data := `{"weight_map": {"a": "m-1.safetensors", "b": "` + bad + `"}}`
		if _, err := shardNames([]byte(data)); err == nil || !strings.Contains(err.Error(), "not a plain file name") {
			t.Errorf("shard %q: %v", bad, err)
		}
	}
	for _, data := range []string{`{"weight_map": {}}`, `{}`, `{"weight_map": [`} {
		if _, err := shardNames([]byte(data)); err == nil {
			t.Errorf("%s: no error", data)
		}
	}
}

package hub

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// shardNames lists the distinct shard files of a model.safetensors.index.json.
func shardNames(data []byte) ([]string, error) {
	var index struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &index); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var names []string
	for _, s := range index.WeightMap {
		if s == "" || filepath.Base(s) != s || strings.HasPrefix(s, ".") {
			return nil, fmt.Errorf("shard name %q is not a plain file name", s)
		}
		if !seen[s] {
			seen[s] = true
			names = append(names, s)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("empty weight_map")
	}
	sort.Strings(names)
	return names, nil
}

package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// File names of a Hugging Face snapshot.
const (
	SingleFileName = "model.safetensors"
	IndexFileName  = "model.safetensors.index.json"
)

// Checkpoint is a set of tensors spread over one or more files, looked up by name.
type Checkpoint struct {
	files []*File
	where map[string]*File
}

// OpenCheckpoint opens the weights of a snapshot folder: the shards listed by
// model.safetensors.index.json when it exists, else model.safetensors.
func OpenCheckpoint(dir string) (*Checkpoint, error) {
	index := filepath.Join(dir, IndexFileName)
	if _, err := os.Stat(index); err == nil {
		return OpenSharded(index)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, &Error{File: index, Err: err}
	}
	single := filepath.Join(dir, SingleFileName)
	f, err := Open(single)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &Error{File: dir, Err: fmt.Errorf("neither %s nor %s found: %w", SingleFileName, IndexFileName, fs.ErrNotExist)}
		}
		return nil, err
	}
	return newCheckpoint([]*File{f})
}

// OpenSharded opens the shards named by an index file (model.safetensors.index.json): every
// tensor of its weight_map must be in the shard it names, and no shard may hold a tensor the
// index does not list or that another shard also holds.
func OpenSharded(indexPath string) (*Checkpoint, error) {
	data, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, &Error{File: indexPath, Err: err}
	}
	var index struct {
		Metadata  map[string]any    `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &index); err != nil {
		return nil, formatError(indexPath, "", "index: %v", err)
	}
	if len(index.WeightMap) == 0 {
		return nil, formatError(indexPath, "", "index has an empty weight_map")
	}
	var shardNames []string
	seen := map[string]bool{}
	for tensor, shard := range index.WeightMap {
		if shard == "" || filepath.Base(shard) != shard || strings.HasPrefix(shard, ".") {
			return nil, formatError(indexPath, tensor, "shard name %q is not a plain file name", shard)
		}
		if !seen[shard] {
			seen[shard] = true
			shardNames = append(shardNames, shard)
		}
	}
	sort.Strings(shardNames)
	dir := filepath.Dir(indexPath)
	var files []*File
	for _, s := range shardNames {
		f, err := Open(filepath.Join(dir, s))
		if err != nil {
			closeAll(files)
			return nil, err
		}
		files = append(files, f)
	}
	c, err := newCheckpoint(files)
	if err != nil {
		return nil, err
	}
	for tensor, shard := range index.WeightMap {
		f, ok := c.where[tensor]
		if !ok {
			c.Close()
			return nil, formatError(indexPath, tensor, "listed in %s but absent from it", shard)
		}
		if filepath.Base(f.path) != shard {
			c.Close()
			return nil, formatError(indexPath, tensor, "listed in %s but found in %s", shard, filepath.Base(f.path))
		}
	}
	if len(c.where) != len(index.WeightMap) {
		for name, f := range c.where {
			if _, ok := index.WeightMap[name]; !ok {
				c.Close()
				return nil, formatError(f.path, name, "tensor not listed in %s", indexPath)
			}
		}
	}
	return c, nil
}

func newCheckpoint(files []*File) (*Checkpoint, error) {
	c := &Checkpoint{files: files, where: map[string]*File{}}
	for _, f := range files {
		for _, name := range f.hdr.order {
			if other, dup := c.where[name]; dup {
				c.Close()
				return nil, formatError(f.path, name, "also present in %s", other.path)
			}
			c.where[name] = f
		}
	}
	return c, nil
}

// Names lists every tensor, sorted.
func (c *Checkpoint) Names() []string {
	names := make([]string, 0, len(c.where))
	for n := range c.where {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Info describes the named tensor and tells which file holds it.
func (c *Checkpoint) Info(name string) (*TensorInfo, *File, bool) {
	f, ok := c.where[name]
	if !ok {
		return nil, nil, false
	}
	t, _ := f.Info(name)
	return t, f, true
}

// Float32 returns the named tensor as float32 (see File.Float32).
func (c *Checkpoint) Float32(name string) ([]float32, error) {
	f, ok := c.where[name]
	if !ok {
		return nil, &Error{File: c.describe(), Tensor: name, Err: ErrNotFound}
	}
	return f.Float32(name)
}

// Files lists the open files.
func (c *Checkpoint) Files() []*File { return append([]*File(nil), c.files...) }

// Close unmaps every file.
func (c *Checkpoint) Close() error {
	return closeAll(c.files)
}

func (c *Checkpoint) describe() string {
	if len(c.files) == 1 {
		return c.files[0].path
	}
	return fmt.Sprintf("%d shards in %s", len(c.files), filepath.Dir(c.files[0].path))
}

func closeAll(files []*File) error {
	var errs []error
	for _, f := range files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// Shape returns the shape of the named tensor.
func (c *Checkpoint) Shape(name string) ([]int, bool) {
	t, _, ok := c.Info(name)
	if !ok {
		return nil, false
	}
	return t.Shape, true
}

// Release tells the kernel that the mapped pages holding data (a slice returned by Float32)
// are no longer needed, so that they stop counting against the process' memory; reading the
// slice again later still works (the pages come back from the file). It does nothing for
// data that is not mapped from one of the checkpoint's files.
func (c *Checkpoint) Release(data []float32) {
	for _, f := range c.files {
		f.release(data)
	}
}

package safetensors

import (
	"errors"
	"fmt"
)

// ErrFormat is wrapped by every error about a malformed file or index.
var ErrFormat = errors.New("malformed safetensors")

// ErrNotFound is wrapped by the error for a tensor name that a checkpoint does not hold.
var ErrNotFound = errors.New("no such tensor")

// Error is the error type of this package: what went wrong, in which file, and for which tensor
// when there is one.
type Error struct {
	File   string // path of the file or index
	Tensor string // tensor name, or ""
	Err    error
}

func (e *Error) Error() string {
	if e.Tensor != "" {
		return fmt.Sprintf("safetensors: %s: tensor %q: %v", e.File, e.Tensor, e.Err)
	}
	return fmt.Sprintf("safetensors: %s: %v", e.File, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

func formatError(file, tensor, format string, args ...any) error {
	return &Error{File: file, Tensor: tensor, Err: fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)}
}

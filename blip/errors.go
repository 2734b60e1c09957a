package blip

import (
	"errors"
	"fmt"
)

// ErrClosed is returned by every method of a Model after Close.
var ErrClosed = errors.New("blip: model is closed")

// UnsupportedError is returned by a method the model's checkpoint cannot serve, such as Answer
// on a captioning checkpoint.
type UnsupportedError struct {
	Method       string // "Answer"
	Needs        Task   // the task the method needs
	Architecture string // the checkpoint's transformers class
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("blip: %s needs a %s checkpoint; this one is %s", e.Method, e.Needs, e.Architecture)
}

// acquire starts a call that reads the weights: it fails with ErrClosed after Close, and
// otherwise holds Close off until release. method and task name the call and what it needs
// (0: any task).
func (m *Model) acquire(method string, task Task) error {
	m.mu.RLock()
	if m.arena == nil {
		m.mu.RUnlock()
		return ErrClosed
	}
	if task != 0 && m.arch.Task != task {
		m.mu.RUnlock()
		return &UnsupportedError{Method: method, Needs: task, Architecture: m.arch.Name}
	}
	return nil
}

func (m *Model) release() { m.mu.RUnlock() }

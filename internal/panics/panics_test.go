package panics

import (
	"errors"
	"testing"
)

func TestWith(t *testing.T) {
	for _, c := range []struct {
		f    func()
		want string
		ok   bool
	}{
		{func() {}, "", false},
		{func() { panic("tensor: matmul 4x6x5") }, "matmul 4x6", true},
		{func() { panic("tensor: matmul 4x6x5") }, "linear", false},
		{func() { panic(errors.New("index out of range")) }, "", true},
		{func() { panic(errors.New("index out of range")) }, "out of range", true},
	} {
		if got := With(c.f, c.want); got != c.ok {
			t.Errorf("want %q: %v, expected %v", c.want, got, c.ok)
		}
	}
}

// Package panics lets tests check that a call panics, and with what message: the guards that
// name a programming error (a tensor of the wrong shape, an index outside a table) are tested
// by their messages, because a panic further on (an index out of range) would otherwise pass
// for them.
package panics

import (
	"fmt"
	"strings"
)

// With reports whether f panics with a message (the recovered value as fmt.Sprint prints it)
// containing want; any panic for "".
func With(f func(), want string) (ok bool) {
	defer func() {
		r := recover()
		ok = r != nil && strings.Contains(fmt.Sprint(r), want)
	}()
	f()
	return false
}

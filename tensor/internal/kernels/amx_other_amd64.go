//go:build !linux && amd64 && !noasm

package kernels

import "errors"

// requestTilePermission: the AMX kernels are enabled on Linux only, the one OS they were
// tested on.
func requestTilePermission() error { return errors.New("not on Linux") }

//go:build unix

package fleet

import (
	"os"
	"syscall"
)

// openNonblocking opens a job's file for reading without waiting: a FIFO's open returns at
// once (a regular file's reads are not changed by the flag).
const openNonblocking = os.O_RDONLY | syscall.O_NONBLOCK

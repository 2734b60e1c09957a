//go:build !unix

package fleet

import "os"

// openNonblocking: where there are no FIFOs to wait on, a plain read-only open.
const openNonblocking = os.O_RDONLY

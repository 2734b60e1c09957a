package tensor

import "golang.org/x/sys/unix"

// adviseHugePages asks Linux to back mem with transparent huge pages where its setting leaves
// that to the program ("madvise", as on both machines seen here): the weights' gigabyte then
// takes a few hundred page faults at load instead of a quarter of a million. Load took 12-20%
// less on the device machine's Xeon (bench, 2 pinned cores, three alternating rounds: bfloat16
// 1.17-1.31 s -> 0.97-1.06 s, float32 1.24-1.44 -> 1.03-1.35), bfloat16's 0.90-0.93 s -> 0.78-0.80
// on the Zen 5 (float32's within the noise there); decode steps, which read every weight, did
// not change beyond the noise on either. A refusal changes nothing: the memory stays in small
// pages.
func adviseHugePages(mem []byte) { _ = unix.Madvise(mem, unix.MADV_HUGEPAGE) }

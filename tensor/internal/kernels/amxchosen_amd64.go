//go:build !noasm && !amxtile && !amxcols

package kernels

// amxChosen is which AMX family is the AMX CPUs' bfloat16 kernel: its index in AvailableBF16's
// list. 1, amx-bf16-col: one assembly call for every 224 rows of a panel (see amxColumns),
// measured against amx-bf16 (0, a call for every 32 rows) in whole bfloat16 runs on this
// project's AMX Xeon (twentieth session, ten alternating rounds of three: vision encoder 0.91 s
// against 0.99 by medians, faster in 8 rounds of 10; the same bits). Builds tagged amxtile
// choose amx-bf16, amxcols the sliced variant (amx-bf16-cols), so that whole models run on
// them beside the default (examples/bench/device/build.sh builds such bench and blip tests).
const amxChosen = 1

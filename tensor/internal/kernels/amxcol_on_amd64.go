//go:build !noasm && amxcol && !amxcols

package kernels

// amxChosen is which AMX family is the AMX CPUs' bfloat16 kernel: its index in AvailableBF16's
// list, 0 for amx-bf16. Builds tagged amxcol choose the column experiment (amx-bf16-col),
// amxcols its sliced variant (amx-bf16-cols), so that whole models run and are checked on
// them before one is made the default (examples/bench/device/build.sh builds such bench and
// blip test binaries).
const amxChosen = 1

//go:build !noasm && amxcol

package kernels

// amxColumnsChosen makes the AMX column experiment (amxColumns) the AMX CPUs' bfloat16 kernel
// in builds tagged amxcol, so that whole models run and are checked on it before it is made
// the default (examples/bench/device/build.sh builds such a bench and blip test binary).
const amxColumnsChosen = true

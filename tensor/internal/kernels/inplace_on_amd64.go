//go:build !noasm && inplacea

package kernels

// inPlaceEverywhere makes every CPU's vector kernels read a tall A with aliasing rows in place
// (Kernel.InPlaceA), whatever readsAliasedRows says: builds tagged inplacea exist so that the
// device machine's Xeon runs whole models that way beside today's copy
// (examples/bench/device/build.sh builds such a bench) before Intel is given the choice.
const inPlaceEverywhere = true

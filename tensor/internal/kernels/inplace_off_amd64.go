//go:build !noasm && !inplacea

package kernels

// inPlaceEverywhere: readsAliasedRows decides (see inplace_on_amd64.go).
const inPlaceEverywhere = false

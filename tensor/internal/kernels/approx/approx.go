// Package approx is the one table of constants that the generated assembly kernels
// (../gen) and their pure-Go twins (package kernels) share: tile shapes, the distance
// streaming kernels prefetch ahead, and the coefficients of the float32 exp and erf
// approximations.
package approx

// Tile shapes of the matrix-product micro-kernels: rows of A (the tallest tile) and columns
// of a packed panel of B.
const (
	AVX512MR, AVX512NR = 14, 32
	N48MR, N48NR       = 8, 48 // AVX-512, three vectors a row
	N64MR, N64NR       = 6, 64 // AVX-512, four vectors a row
	AVX2MR, AVX2NR     = 6, 16
	BF16MR, BF16NR     = 14, 32 // AVX512-BF16, in bfloat16 pairs
	AMXMR, AMXNR       = 32, 32 // AMX-BF16: a 2x2 grid of 16x16 tiles, in bfloat16 pairs
	NEONMR, NEONNR     = 6, 16  // arm64
	GenericMR          = 4      // the pure-Go kernel (any NR)
)

// PrefetchAhead is how far ahead of their loads, in bytes, the kernels that stream memory
// prefetch: the AVX-512 kernels of up to eight rows (the weights of decode steps) and the max
// kernels (which ReadPeak streams through). See kernels.prefetchAhead for the measurements.
const PrefetchAhead = 8192

// ExponentField selects a float32's exponent bits: all set, the value is a NaN or an infinity.
// The exponent kernels (maxExponent*) return the largest field of a slice, which load compares
// with it to check every weight of a checkpoint.
const ExponentField = 0x7f800000

// FMAPeakChains is how many independent FMA chains the peak loop runs: enough to cover two
// FMA units of four cycles' latency with room to spare.
const FMAPeakChains = 12

// Exp: Cephes' expf. e^x = 2^n·e^r with n = round(x·log2 e), r = x - n·ln 2 (ln 2 split in
// ExpC1 + ExpC2 for precision), e^r ≈ 1 + r + r²·P(r) with P's coefficients highest degree
// first. Below ExpLo the result is 0, above ExpHi +Inf.
const (
	ExpLo   = -87.33654
	ExpHi   = 88.72283
	ExpLog2 = 1.44269504088896341
	ExpC1   = 0.693359375
	ExpC2   = -2.12194440e-4
)

// ExpPoly are P's coefficients, highest degree first.
var ExpPoly = [...]float32{1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1}

// Erf: a rational approximation on [-ErfClamp, ErfClamp] (erf is ±1 in float32 beyond):
// erf(x) ≈ x·N(x²) / D(x²), coefficients highest degree first.
const ErfClamp = 4

var (
	ErfNum = [...]float32{-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02}
	ErfDen = [...]float32{-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03, -1.42647390514189e-02}
)

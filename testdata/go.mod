// This module only exists to keep the golden reference data out of the blipgo module zip:
// `go get` users do not download ~20 MB of test files. The tests of the parent module read
// these files from the repository checkout.
module github.com/imagesemantics/blipgo/testdata

go 1.26

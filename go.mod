module github.com/imagesemantics/blipgo

go 1.26.8

require (
	github.com/nlpodyssey/gotokenizers v0.2.0 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	golang.org/x/image v0.48.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	gonum.org/v1/gonum v0.17.0 // indirect
)

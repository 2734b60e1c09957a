// The browser test of the web demo lives in its own module so that `go get` users of blipgo
// never download its dependency (chromedp). It builds the server from this checkout.
module github.com/imagesemantics/blipgo/examples/server/browsertest

go 1.26.0

require (
	github.com/chromedp/chromedp v0.23.0
	github.com/imagesemantics/blipgo v0.0.0
)

require (
	github.com/chromedp/cdproto v0.159.0 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/imagesemantics/blipgo => ../../..

// Command hashmodel writes the full-size BLIP checkpoint of HASHMODEL.md (BLIP-large shapes,
// values computed from parameter names) as a Hugging Face snapshot folder: config.json,
// preprocessor_config.json, tokenizer files and a 1.8 GB F32 model.safetensors.
//
//	go run ./examples/hashmodel -out DIR
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/imagesemantics/blipgo/internal/hashmodel"
)

func main() {
	out := flag.String("out", "", "snapshot folder to write (created if needed)")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: hashmodel -out DIR")
		os.Exit(2)
	}
	start := time.Now()
	if err := hashmodel.Write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "hashmodel:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "wrote %s in %.1fs\n", *out, time.Since(start).Seconds())
}

package imageproc_test

import (
	"fmt"
	"log"
	"os"

	"github.com/imagesemantics/blipgo/imageproc"
)

func ExamplePreprocessConfig_Preprocess() {
	f, err := os.Open("../testdata/golden/images/chelsea.png")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	img, err := imageproc.Decode(f, 0)
	if err != nil {
		log.Fatal(err)
	}
	cfg := imageproc.DefaultPreprocessConfig()
	pixels, err := cfg.Preprocess(img)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%dx%d -> %d values (3x%dx%d), first %.4f\n", img.W, img.H, len(pixels), cfg.Height, cfg.Width, pixels[0])
	// Output:
	// 451x300 -> 442368 values (3x384x384), first 0.2953
}

package blip_test

import (
	"context"
	"fmt"
	"log"

	"github.com/imagesemantics/blipgo/blip"
)

// The tiny golden checkpoint has random weights, so its words are nonsense; a real BLIP
// snapshot gives real captions the same way.
func Example() {
	m, err := blip.Load("../testdata/golden/models/blip-tiny-a")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	c, err := m.CaptionFile(context.Background(), "../testdata/golden/images/chelsea.png")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Text)
	fmt.Println(c.IDs)
	// Output:
	// highlands residing highlands residing highlands remy nguyen
	// [30522 11784 7154 11784 7154 11784 22712 16577 102]
}

func ExampleModel_Caption_prompt() {
	m, err := blip.Load("../testdata/golden/models/blip-tiny-a")
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	c, err := m.CaptionFile(context.Background(), "../testdata/golden/images/chelsea.png",
		blip.Prompt("a photography of"), blip.Beams(3), blip.MinLength(10), blip.MaxLength(30))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Text)
	// Output:
	// a photography of malta highlands residing highlands residing highlands residing carver
}

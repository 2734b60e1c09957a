package tokenizer_test

import (
	"fmt"
	"log"

	"github.com/imagesemantics/blipgo/tokenizer"
)

func ExampleTokenizer_Encode() {
	tk, err := tokenizer.Load("../testdata/golden/models/blip-tiny-a")
	if err != nil {
		log.Fatal(err)
	}
	ids := tk.Encode("A cat's toy, on the couch!")
	fmt.Println(ids)
	fmt.Println(tk.Decode(ids, true, true))
	// Output:
	// [101 1037 4937 1005 1055 9121 1010 2006 1996 6411 999 102]
	// a cat's toy, on the couch!
}

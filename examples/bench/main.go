// Command bench times one BLIP model on one image and prints one JSON line:
//
//	go run ./examples/bench -model DIR -image FILE [-reps N] [-threads N] [-tokens N]
//	{"load_s": F, "vision_s": [F...], "caption_s": [F...], "tokens": N, "ids": [...], "peak_rss_bytes": N}
//
// caption_s covers a whole caption: decoding the image file, preprocessing, the vision
// encoder, decoding tokens and detokenizing. vision_s times the vision encoder alone on the
// already preprocessed image. With -tokens N every caption decodes exactly N new tokens,
// ignoring the end token, so that timings compare across models and machines.
//
// BLIPGO_PRECISION=bfloat16 in the environment loads the model with blip.BFloat16 (opt-in
// bfloat16 products) instead of float32.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/imagesemantics/blipgo/blip"
)

type report struct {
	LoadS        float64   `json:"load_s"`
	VisionS      []float64 `json:"vision_s"`
	CaptionS     []float64 `json:"caption_s"`
	Tokens       int       `json:"tokens"`
	IDs          []int     `json:"ids"`
	PeakRSSBytes int64     `json:"peak_rss_bytes"`
}

func main() {
	model := flag.String("model", "", "snapshot folder")
	imagePath := flag.String("image", "", "image file")
	reps := flag.Int("reps", 3, "repetitions")
	threads := flag.Int("threads", runtime.GOMAXPROCS(0), "threads")
	tokens := flag.Int("tokens", 0, "decode exactly N new tokens, ignoring the end token (0: stop at it)")
	flag.Parse()
	if *model == "" || *imagePath == "" || *reps < 1 || *threads < 1 || *tokens < 0 {
		flag.Usage()
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*threads)
	if err := run(*model, *imagePath, *reps, *threads, *tokens); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(model, imagePath string, reps, threads, tokens int) error {
	ctx := context.Background()
	start := time.Now()
	opts := []blip.LoadOption{blip.Threads(threads)}
	switch prec := os.Getenv("BLIPGO_PRECISION"); prec {
	case "", "float32":
	case "bfloat16":
		opts = append(opts, blip.BFloat16())
	default:
		return fmt.Errorf("BLIPGO_PRECISION=%q: want float32 or bfloat16", prec)
	}
	m, err := blip.Load(model, opts...)
	if err != nil {
		return err
	}
	defer m.Close()
	r := report{LoadS: time.Since(start).Seconds()}
	var copts []blip.Option
	if tokens > 0 {
		copts = append(copts, blip.MaxNewTokens(tokens), blip.IgnoreEOS())
	}
	data, err := os.ReadFile(imagePath)
	if err != nil {
		return err
	}
	for i := 0; i < reps; i++ {
		img, err := m.DecodeImage(strings.NewReader(string(data)))
		if err != nil {
			return err
		}
		pixels, err := m.Preprocess.Preprocess(img)
		if err != nil {
			return err
		}
		start = time.Now()
		if _, err := m.EncodePixels(ctx, pixels); err != nil {
			return err
		}
		r.VisionS = append(r.VisionS, time.Since(start).Seconds())

		start = time.Now()
		img, err = m.DecodeImage(strings.NewReader(string(data)))
		if err != nil {
			return err
		}
		c, err := m.Caption(ctx, img, copts...)
		if err != nil {
			return err
		}
		r.CaptionS = append(r.CaptionS, time.Since(start).Seconds())
		r.IDs = c.IDs
		r.Tokens = len(c.IDs) - len(m.PromptIDs(""))
	}
	r.PeakRSSBytes = peakRSS()
	out, err := json.Marshal(r)
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}

// peakRSS reads the process' high-water resident set size (VmHWM) on Linux; 0 elsewhere.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

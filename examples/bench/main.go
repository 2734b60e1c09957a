// Command bench times one BLIP model on one image and prints one JSON line:
//
//	go run ./examples/bench -model DIR -image FILE [-reps N] [-threads N] [-tokens N] [-beams N] [-precision P]
//	{"load_s": F, "vision_s": [F...], "caption_s": [F...], "preprocess_s": [F...], "cross_s": [F...],
//	 "step_ms": F, "step_bytes": N, "step_gbps": F, "tokens": N, "beams": N, "ids": [...], "peak_rss_bytes": N,
//	 "kernel": "avx512", "precision": "float32", "cpu": "AMD EPYC ... avx512f avx512_bf16", "fma_peak_gflops": F,
//	 ["amx_peak_gflops": F,] "read_peak_gbps": F, "threads": N}
//
// caption_s covers a whole caption: decoding the image file, preprocessing, the vision
// encoder, decoding tokens and detokenizing; preprocess_s (file decoding, resizing,
// normalising) and cross_s (every layer's cross-attention keys and values) are its stages.
// vision_s times the vision encoder alone on the already preprocessed image. step_ms is the
// median decoder step over all repetitions (the first pass of each caption, BOS and prompt,
// left out); step_bytes is what one step reads (weights, cached keys and values, at the middle
// position) and step_gbps that divided by step_ms: decode steps are bound by memory
// bandwidth. With -tokens N every caption decodes exactly N new tokens, ignoring the end
// token, so that timings compare across models and machines. With -beams N (N > 1) captions
// run beam search over N beams: each step then takes the N beams through the decoder at once
// (step_ms and step_bytes are such a step's, the weights read once for all beams), and
// caption_s includes the search's own work between steps (log-probabilities and the best
// 2·N of every beam's continuations).
//
// -precision float32|bfloat16|bfloat16x3 selects the linear layers' products (see
// tensor.Precision); without it BLIPGO_PRECISION in the environment does, else float32.
// kernel names the kernels that precision runs on this CPU, cpu the processor and the
// features that choose them, fma_peak_gflops one core's register-only FMA peak measured in the
// same run (shared machines vary from day to day: compare fractions of it), amx_peak_gflops
// (only where bfloat16 products run on AMX tiles) one core's TDPBF16PS peak likewise, and
// read_peak_gbps the memory bandwidth the same threads get streaming 512 MiB
// (tensor.ReadPeak, best of three passes, after everything else): step_gbps is a fraction
// of it.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/cpu"

	"github.com/imagesemantics/blipgo/blip"
	"github.com/imagesemantics/blipgo/tensor"
)

type report struct {
	LoadS        float64   `json:"load_s"`
	VisionS      []float64 `json:"vision_s"`
	CaptionS     []float64 `json:"caption_s"`
	PreprocessS  []float64 `json:"preprocess_s"`
	CrossS       []float64 `json:"cross_s"`
	StepMS       float64   `json:"step_ms"`
	StepBytes    int64     `json:"step_bytes"`
	StepGBps     float64   `json:"step_gbps"`
	Tokens       int       `json:"tokens"`
	Beams        int       `json:"beams"`
	IDs          []int     `json:"ids"`
	PeakRSSBytes int64     `json:"peak_rss_bytes"`
	Kernel       string    `json:"kernel"`
	Precision    string    `json:"precision"`
	CPU          string    `json:"cpu"`
	PeakGFLOPS   float64   `json:"fma_peak_gflops"`
	AMXPeak      float64   `json:"amx_peak_gflops,omitempty"`
	ReadPeakGBps float64   `json:"read_peak_gbps"`
	Threads      int       `json:"threads"`
}

func main() {
	model := flag.String("model", "", "snapshot folder")
	imagePath := flag.String("image", "", "image file")
	reps := flag.Int("reps", 3, "repetitions")
	threads := flag.Int("threads", runtime.GOMAXPROCS(0), "threads")
	tokens := flag.Int("tokens", 0, "decode exactly N new tokens, ignoring the end token (0: stop at it)")
	beams := flag.Int("beams", 1, "beam search over N beams (1: greedy)")
	precision := flag.String("precision", os.Getenv("BLIPGO_PRECISION"), "float32, bfloat16 or bfloat16x3 (default $BLIPGO_PRECISION, else float32)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (load included) to this file, for go tool pprof")
	flag.Parse()
	if *precision == "" {
		*precision = "float32"
	}
	prec, err := tensor.ParsePrecision(*precision)
	if err != nil || *model == "" || *imagePath == "" || *reps < 1 || *threads < 1 || *tokens < 0 || *beams < 1 {
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		flag.Usage()
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*threads)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if err := run(*model, *imagePath, *reps, *threads, *tokens, *beams, prec); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(model, imagePath string, reps, threads, tokens, beams int, prec tensor.Precision) error {
	ctx := context.Background()
	start := time.Now()
	m, err := blip.Load(model, blip.Threads(threads), blip.WithPrecision(prec))
	if err != nil {
		return err
	}
	defer m.Close()
	r := report{LoadS: time.Since(start).Seconds(), Kernel: m.Kernel(), Precision: prec.String(), CPU: cpuName(), Threads: threads, Beams: beams}
	start = time.Now()
	r.PeakGFLOPS = float64(tensor.PeakFMA(5_000_000)) / time.Since(start).Seconds() / 1e9
	start = time.Now()
	if flops := tensor.PeakAMX(1_000_000); flops > 0 {
		r.AMXPeak = float64(flops) / time.Since(start).Seconds() / 1e9
	}
	var tm blip.Timings
	copts := []blip.Option{blip.WithTimings(&tm)}
	var steps []float64
	if tokens > 0 {
		copts = append(copts, blip.MaxNewTokens(tokens), blip.IgnoreEOS())
	}
	if beams > 1 {
		copts = append(copts, blip.Beams(beams))
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
		decoded := time.Since(start)
		c, err := m.Caption(ctx, img, copts...)
		if err != nil {
			return err
		}
		r.CaptionS = append(r.CaptionS, time.Since(start).Seconds())
		r.PreprocessS = append(r.PreprocessS, (decoded + tm.Preprocess).Seconds())
		r.CrossS = append(r.CrossS, tm.Cross.Seconds())
		for _, d := range tm.Steps[1:] {
			steps = append(steps, float64(d)/float64(time.Millisecond))
		}
		r.IDs = c.IDs
		r.Tokens = len(c.IDs) - len(m.PromptIDs(""))
	}
	if len(steps) > 0 {
		slices.Sort(steps)
		r.StepMS = steps[len(steps)/2]
		r.StepBytes = m.Decoder.StepBytes(len(m.PromptIDs(""))+r.Tokens/2, m.Config.VisionConfig.SeqLen(), m.Precision()) + m.Head.Bytes()
		r.StepGBps = float64(r.StepBytes) / (r.StepMS / 1000) / 1e9
	}
	r.PeakRSSBytes = peakRSS()
	if r.ReadPeakGBps, err = readPeak(threads); err != nil {
		return err
	}
	out, err := json.Marshal(r)
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}

// readPeakBytes is the slice readPeak streams: larger than any last-level cache the project
// has seen (the device machine's Xeon: up to 320 MB), so that each pass reads memory.
const readPeakBytes = 512 << 20

// readPeak is the best of three timed passes of tensor.ReadPeak over 512 MiB on threads
// workers, in GB/s. It runs after the peak RSS is read, which it would otherwise raise. The
// slice is an arena's, outside the Go heap, which Go would zero first. Its first touch is
// what costs: 0.2 s in a fresh process on this project's Zen 5 virtual machine, 1.5 s after
// a model's 2 GB (page faults), the passes themselves 10 ms each.
func readPeak(threads int) (float64, error) {
	arena := tensor.NewArena()
	x := arena.Alloc(readPeakBytes / 4)
	for i := range x {
		x[i] = 1 // resident pages, not the shared zero page
	}
	p := tensor.NewPool(threads)
	best := 0.0
	for range 3 {
		start := time.Now()
		n, _ := tensor.ReadPeak(p, x)
		best = max(best, float64(n)/time.Since(start).Seconds()/1e9)
	}
	return best, arena.Free()
}

// cpuName is the processor's model name (Linux) and the features that choose the kernels.
func cpuName() string {
	name := runtime.GOARCH
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				name = strings.TrimSpace(v)
				break
			}
		}
	}
	x := cpu.X86
	for _, f := range []struct {
		has  bool
		name string
	}{{x.HasAVX2, "avx2"}, {x.HasFMA, "fma"}, {x.HasAVX512F, "avx512f"}, {x.HasAVX512BF16, "avx512_bf16"}, {x.HasAMXTile, "amx_tile"}, {x.HasAMXBF16, "amx_bf16"}} {
		if f.has {
			name += " " + f.name
		}
	}
	return name
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

// Package browsertest drives the web demo (examples/server) in headless Chromium.
package browsertest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/imagesemantics/blipgo/internal/golden"
	"github.com/imagesemantics/blipgo/translate"
)

// TestPageInChromium drives the page in headless Chromium: choose two images, press Generate
// Semantics, read the captions; ask a question in the Ask tab and score texts in the Match
// tab; press Clear while a caption runs, then caption again; press Clear. It saves a screenshot for people to look at, in
// $BLIPGO_SCREENSHOTS (default: the system temporary folder). Without Chromium it is skipped,
// unless BLIPGO_BROWSER_TEST=1 (set by .ci/run, which installs it) makes that a failure.
func TestPageInChromium(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("BLIPGO_BROWSER_TEST") == "1" {
			t.Fatal("chromium not found (apt-get install chromium chromium-driver)")
		}
		t.Skip("chromium not installed")
	}
	url := startServer(t)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1100, 900))
	defer cancel()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	images := []string{golden.Path("images/chelsea.png"), golden.Path("images/coffee.png")}
	do := func(what string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		if _, err := chromedp.Run(ctx, a); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	do("open the page", chromedp.Navigate(url+"/"))
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	do("wait for the page", chromedp.WaitVisible("#generate"))
	do("choose images", chromedp.SetUploadFiles("#image", images))
	do("wait for previews", chromedp.WaitVisible("#results .card img"))
	do("press Generate Semantics", chromedp.Click("#generate"))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll("#results .caption").length === 2 &&
		[...document.querySelectorAll("#results .caption")].every(c => c.textContent !== "" && c.textContent !== "…") &&
		!document.getElementById("generate").disabled`)); err != nil {
		t.Fatalf("waiting for captions: %v", err)
	}
	caption0 := text("#results .card:nth-child(1) .caption span")
	caption1 := text("#results .card:nth-child(2) .caption span")
	if copies, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#results .caption button.copy").length`)); err != nil || copies != 2 {
		t.Errorf("copy buttons: %d, %v", copies, err)
	}
	meta0 := text("#results .card:nth-child(1) .meta")
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 makes a PNG
	if err != nil {
		t.Fatal(err)
	}
	if title != "Image Semantics" {
		t.Errorf("title %q", title)
	}
	cases, _ := golden.Load()
	want := map[string]string{}
	for _, g := range cases.Generate {
		if g.Model == "blip-tiny-a" && g.Name == "default" {
			want[g.Image] = g.Text
		}
	}
	if caption0 != want["chelsea"] || caption1 != want["coffee"] {
		t.Errorf("captions %q, %q; want %q, %q", caption0, caption1, want["chelsea"], want["coffee"])
	}
	if !strings.Contains(meta0, "chelsea.png") || !strings.HasSuffix(meta0, " s") {
		t.Errorf("time not shown: %q", meta0)
	}
	save := func(name string, shot []byte) {
		dir := os.Getenv("BLIPGO_SCREENSHOTS")
		if dir == "" {
			dir = os.TempDir()
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Error(err)
		} else {
			t.Logf("screenshot: %s", path)
		}
	}
	save("blipgo-server-page.png", shot)

	// Ask: the golden answer for chelsea.
	vqa := cases.VQA[0]
	do("open Ask", chromedp.Click("#tab-answer"))
	do("type the question", chromedp.SendKeys("#question", vqa.Question))
	do("press Generate Semantics", chromedp.Click("#generate"))
	waitDone := func(what string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!document.getElementById("generate").disabled &&
			[...document.querySelectorAll("#results .caption")].every(c => !/^(queued|working)/.test(c.textContent))`)); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	waitDone("answers")
	if got := text("#results .card:nth-child(1) .caption span"); got != vqa.Text {
		t.Errorf("answer %q, want %q", got, vqa.Text)
	}
	// Match: three texts against chelsea, the golden probabilities.
	itm := cases.ITM[0]
	do("open Match", chromedp.Click("#tab-match"))
	do("type the texts", chromedp.SendKeys("#texts", strings.Join(itm.Texts, "\n")))
	do("press Generate Semantics", chromedp.Click("#generate"))
	waitDone("matches")
	items, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#results .card:nth-child(1) li")].map(li => li.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(itm.Texts) {
		t.Fatalf("match items %q", items)
	}
	if shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		save("blipgo-server-match.png", shot)
	}
	for i, item := range items {
		if want := fmt.Sprintf("%s: match %.4f", itm.Texts[i], itm.ITMProbMatch[i]); !strings.HasPrefix(item, want) {
			t.Errorf("match item %q, want it to start %q", item, want)
		}
	}
	// An example image loads as a chosen file and captions.
	do("press Clear before the example", chromedp.Click("#clear"))
	do("back to Caption for the example", chromedp.Click("#tab-caption"))
	do("click an example", chromedp.Click(`.example[data-src="examples/coffee.jpg"]`))
	do("wait for its preview", chromedp.WaitVisible("#results .card img"))
	do("press Generate Semantics for the example", chromedp.Click("#generate"))
	waitDone("the example's caption")
	if got := text("#results .card:nth-child(1) .meta"); !strings.HasPrefix(got, "coffee.jpg · ") {
		t.Errorf("example card %q", got)
	}
	// A language: the caption comes translated.
	tr, err := translate.Load(golden.Path("marian", "marian-tiny"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	wantTr, err := tr.Translate(context.Background(), []string{want["coffee"]}, translate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	do("open the options", chromedp.Click(".options summary"))
	do("choose a language", chromedp.SetValue("#translate", golden.Path("marian", "marian-tiny")))
	do("press Generate Semantics translated", chromedp.Click("#generate"))
	waitDone("the translated caption")
	if got := text("#results .card:nth-child(1) .caption span"); got != wantTr[0].Text {
		t.Errorf("translated caption %q, want %q", got, wantTr[0].Text)
	}
	do("back to English", chromedp.SetValue("#translate", ""))
	// Clear while captioning, then caption again: Generate must work.
	do("back to Caption", chromedp.Click("#tab-caption"))
	do("press Generate Semantics", chromedp.Click("#generate"))
	do("press Clear at once", chromedp.Click("#clear"))
	do("choose an image again", chromedp.SetUploadFiles("#image", images[:1]))
	do("wait for the preview", chromedp.WaitVisible("#results .card img"))
	do("press Generate Semantics again", chromedp.Click("#generate"))
	waitDone("the caption after Clear")
	if got := text("#results .card:nth-child(1) .caption span"); got != want["chelsea"] {
		t.Errorf("caption after Clear %q, want %q", got, want["chelsea"])
	}

	do("press Clear", chromedp.Click("#clear"))
	cards, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#results .card").length`))
	if err != nil {
		t.Fatal(err)
	}
	fileValue, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("image").value`))
	if err != nil {
		t.Fatal(err)
	}
	if cards != 0 || fileValue != "" {
		t.Errorf("after Clear: %d cards, file input %q", cards, fileValue)
	}
}

// startServer builds examples/server from this checkout, starts it on a free loopback port
// with the golden captioning, question-answering and matching models, and returns its URL; it
// is stopped when the test ends.
func startServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "server")
	build := exec.Command("go", "build", "-o", bin, "./examples/server")
	build.Dir = "../../.." // the blipgo module, with its own go.sum
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the server: %v\n%s", err, out)
	}
	args := []string{"-addr", "127.0.0.1:0", "-workers", "1", "-queue", "4"}
	for _, m := range []string{"blip-tiny-a", "blip-tiny-vqa", "blip-tiny-itm"} {
		args = append(args, "-model", golden.Path("models", m))
	}
	args = append(args, "-translate", golden.Path("marian", "marian-tiny"))
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	// "serving MODELS on http://ADDR (...)"
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("server output %q: %v", line, err)
	}
	_, after, ok := strings.Cut(line, " on ")
	url, _, _ := strings.Cut(after, " ")
	if !ok || !strings.HasPrefix(url, "http://") {
		t.Fatalf("server said %q", line)
	}
	return url
}

// Command verifyreal checks a real GIT checkpoint from the Hugging Face hub against the
// reference that Hugging Face's own conversion script (convert_git_to_pytorch.py)
// asserts for it: input ids [[101]] and the script's picture give logits[0, -1, :3]
// within 1e-4 of its values. It needs the internet, which this project's machines lack:
//
//	make verify-real [MODEL=microsoft/git-large-vqav2]
//	go run ./tools/verifyreal -model microsoft/git-base-vqav2 [-site static]
//
// Steps: fetch the checkpoint (tools/fetch/hub) and the picture (COCO val2017
// 000000039769.jpg, two cats; the TextVQA models' bus.png); the float32 check with
// pixels from Go's JPEG decoder and, where Chromium is present, from the browser's
// (libjpeg-turbo, as Pillow's), which is the one that must pass; the same with the int8
// folder tools/convert makes (the deviation is reported, not judged); then the
// script's prompt answered natively and, with -site, through the page in Chromium.
// It exits 1 when the float32 check fails.
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gitvqa/model"
	"gitvqa/model/convert"
	"gitvqa/model/fixture"
	"gitvqa/model/hf"
	"gitvqa/model/imageproc"
	"gitvqa/tools/fetch/hub"
)

// reference is what convert_git_to_pytorch.py checks for a checkpoint.
type reference struct {
	logits  [3]float32 // logits[0, -1, :3] for input ids [[101]]
	textVQA bool       // its picture is nielsr/textvqa-sample's bus.png, not COCO's cats
	prompt  string     // what the script then generates from
}

const (
	catsPrompt = "what are the cats doing?"
	busPrompt  = "what does the front of the bus say at the top?"
)

// references are the script's values for the image checkpoints (the video ones, VATEX
// and MSRVTT, take six frames: not supported here).
var references = map[string]reference{
	"microsoft/git-base":           {logits: [3]float32{-1.2832, -1.2835, -1.2840}},
	"microsoft/git-base-coco":      {logits: [3]float32{-0.9925, -0.9930, -0.9935}},
	"microsoft/git-base-textcaps":  {logits: [3]float32{-1.2980, -1.2983, -1.2985}},
	"microsoft/git-base-vqav2":     {logits: [3]float32{-0.8570, -0.8568, -0.8561}, prompt: catsPrompt},
	"microsoft/git-base-textvqa":   {logits: [3]float32{-1.4085, -1.4083, -1.4082}, textVQA: true, prompt: busPrompt},
	"microsoft/git-large":          {logits: [3]float32{-1.1708, -1.1707, -1.1705}},
	"microsoft/git-large-coco":     {logits: [3]float32{-1.0425, -1.0423, -1.0422}},
	"microsoft/git-large-textcaps": {logits: [3]float32{-1.2705, -1.2708, -1.2706}},
	"microsoft/git-large-vqav2":    {logits: [3]float32{-0.7042, -0.7043, -0.7043}, prompt: catsPrompt},
	"microsoft/git-large-textvqa":  {logits: [3]float32{-0.8590, -0.8592, -0.8590}, textVQA: true, prompt: busPrompt},
}

const tolerance = 1e-4

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "verifyreal:", err)
		}
		os.Exit(1)
	}
}

type options struct {
	repo, hubURL, pictureURL, work, site, chromium string
	maxTokens                                      int
	ref                                            reference
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("verifyreal", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.repo, "model", "microsoft/git-large-vqav2", "hub repository: one of convert_git_to_pytorch.py's image checkpoints")
	fs.StringVar(&o.hubURL, "hub", "https://huggingface.co", "hub address")
	fs.StringVar(&o.pictureURL, "picture", "", "the picture's URL (default: the script's: COCO's cats, or the TextVQA sample)")
	fs.StringVar(&o.work, "work", ".cache/verify-real", "folder for the downloads and the int8 folder")
	fs.StringVar(&o.site, "site", "", "a built site (static/, after make site) to ask through the page in Chromium; empty: no page")
	fs.StringVar(&o.chromium, "chromium", "", "Chromium for the browser's JPEG decoding and the page (default: found on PATH; \"none\": skip)")
	fs.IntVar(&o.maxTokens, "max-tokens", 30, "tokens to generate for the answer")
	prompt := fs.String("prompt", "", "the question to answer (default: the script's for this checkpoint; \"\" there means a caption)")
	expect := fs.String("expect", "", "logits[0,-1,:3] to check against instead of the script's (three numbers, comma-separated; for tests)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ref, known := references[o.repo]
	if *expect != "" {
		parts := strings.Split(*expect, ",")
		if len(parts) != 3 {
			return fmt.Errorf("-expect wants three numbers, not %q", *expect)
		}
		for i, p := range parts {
			v, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
			if err != nil {
				return fmt.Errorf("-expect: %w", err)
			}
			ref.logits[i] = float32(v)
		}
	} else if !known {
		return fmt.Errorf("no reference for %s (known: the image checkpoints of convert_git_to_pytorch.py)", o.repo)
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "prompt" {
			ref.prompt = *prompt
		}
	})
	o.ref = ref
	if o.pictureURL == "" {
		o.pictureURL = "http://images.cocodataset.org/val2017/000000039769.jpg"
		if ref.textVQA {
			o.pictureURL = strings.TrimRight(o.hubURL, "/") + "/datasets/nielsr/textvqa-sample/resolve/main/bus.png"
		}
	}
	if o.chromium == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				o.chromium = p
				break
			}
		}
	} else if o.chromium == "none" {
		o.chromium = ""
	}
	return verify(ctx, o, out)
}

func verify(ctx context.Context, o options, out io.Writer) error {
	say := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }
	say("verify-real: %s", o.repo)

	hfDir := filepath.Join(o.work, "hf", filepath.FromSlash(o.repo))
	f := hub.Fetcher{Endpoint: o.hubURL, Repo: o.repo, Revision: "main", Retries: 8, Log: io.Discard}
	if err := f.Checkpoint(ctx, hfDir); err != nil {
		return fmt.Errorf("fetching %s: %w", o.repo, err)
	}
	say("checkpoint: %s", hfDir)
	picture, err := download(ctx, o.pictureURL, filepath.Join(o.work, path(o.pictureURL)))
	if err != nil {
		return fmt.Errorf("fetching the picture: %w", err)
	}
	img, err := imageproc.Decode(picture)
	if err != nil {
		return fmt.Errorf("%s: %w", o.pictureURL, err)
	}
	say("picture: %s (%d×%d)", path(o.pictureURL), img.W, img.H)

	f32, err := hf.LoadDir(hfDir)
	if err != nil {
		return err
	}
	// The browser's decoding (libjpeg-turbo, as Pillow's) where Chromium is here: Go's
	// JPEG decoder rounds its IDCT and upsampling differently, by a level or two.
	var browserImg *imageproc.RGB
	if o.chromium != "" {
		if browserImg, err = decodeInChromium(ctx, o.chromium, picture); err != nil {
			return fmt.Errorf("decoding the picture in Chromium: %w", err)
		}
	}
	passed := false
	check := func(label string, m *model.Model, im *imageproc.RGB, judge bool) ([]float32, error) {
		logits, err := firstLogits(ctx, m, im)
		if err != nil {
			return nil, err
		}
		d := fixture.MaxAbsDiff(logits[:3], o.ref.logits[:])
		verdict := "reported"
		if judge {
			verdict = "FAIL"
			if d <= tolerance {
				verdict, passed = "PASS", true
			}
		}
		say("%-34s logits[0,-1,:3] = %s; reference %s; max |Δ| %.2g (atol %g): %s", label+":", fmtRow(logits[:3]), fmtRow(o.ref.logits[:]), d, tolerance, verdict)
		return logits, nil
	}
	goF32, err := check("float32, Go's JPEG decoder", f32, img, browserImg == nil)
	if err != nil {
		return err
	}
	if browserImg != nil {
		if _, err := check("float32, Chromium's decoder", f32, browserImg, true); err != nil {
			return err
		}
		say("%-34s max |pixel Δ| between the decoders %d of 255", "", maxPixelDiff(img, browserImg))
	}

	int8Dir := filepath.Join(o.work, "int8", filepath.FromSlash(o.repo))
	in, closeIn, err := convert.OpenFolder(hfDir)
	if err != nil {
		return err
	}
	_, err = convert.Convert(in, int8Dir, convert.Options{Description: o.repo + ", int8 (tools/verifyreal)", Task: model.TaskOf(o.repo)})
	closeIn()
	if err != nil {
		return fmt.Errorf("converting to int8: %w", err)
	}
	q8, err := hf.LoadDir(int8Dir)
	if err != nil {
		return err
	}
	qLogits, err := check("int8, Go's JPEG decoder", q8, img, false)
	if err != nil {
		return err
	}
	say("%-34s max |Δ| vs float32 over all %d logits %.3g, cosine %.6f", "", len(qLogits), fixture.MaxAbsDiff(qLogits, goF32), fixture.Cosine(qLogits, goF32))

	for _, m := range []struct {
		label string
		m     *model.Model
	}{{"float32", f32}, {"int8", q8}} {
		answer, err := ask(ctx, m.m, img, o.ref.prompt, o.maxTokens)
		if err != nil {
			return err
		}
		say("answer (%s, native): %q → %q", m.label, o.ref.prompt, answer)
	}
	if o.site != "" && o.chromium != "" {
		answer, logits, err := askInPage(ctx, o.chromium, o.site, int8Dir, picture, o.ref.prompt, o.maxTokens)
		if err != nil {
			return fmt.Errorf("the page: %w", err)
		}
		say("%-34s logits[0,-1,:3] = %s; max |Δ| vs reference %.2g", "int8, the page in Chromium:", fmtRow(logits), fixture.MaxAbsDiff(logits, o.ref.logits[:]))
		say("answer (int8, the page in Chromium): %q → %q", o.ref.prompt, answer)
	}
	if !passed {
		return errors.New("the float32 logits are not within 1e-4 of the reference")
	}
	say("verify-real: PASS")
	return nil
}

// firstLogits runs input ids [[101]] (the caption prompt) on the picture.
func firstLogits(ctx context.Context, m *model.Model, im *imageproc.RGB) ([]float32, error) {
	pre, err := m.Preprocess.Preprocess(im)
	if err != nil {
		return nil, err
	}
	s, err := m.NewSession(nil)
	if err != nil {
		return nil, err
	}
	var logits []float32
	_, err = s.Ask(ctx, pre.Pixels, "", model.Options{MaxTokens: 1, OnLogits: func(step int, l []float32) {
		if step == 0 {
			logits = append([]float32(nil), l...)
		}
	}})
	return logits, err
}

func ask(ctx context.Context, m *model.Model, im *imageproc.RGB, prompt string, maxTokens int) (string, error) {
	pre, err := m.Preprocess.Preprocess(im)
	if err != nil {
		return "", err
	}
	s, err := m.NewSession(nil)
	if err != nil {
		return "", err
	}
	ans, err := s.Ask(ctx, pre.Pixels, prompt, model.Options{MaxTokens: maxTokens})
	if err != nil {
		return "", err
	}
	return ans.Text, nil
}

// download fetches url into file once (kept for the next run).
func download(ctx context.Context, url, file string) ([]byte, error) {
	if b, err := os.ReadFile(file); err == nil && len(b) > 0 {
		return b, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return nil, err
	}
	return b, os.WriteFile(file, b, 0o644)
}

func path(url string) string { return url[strings.LastIndex(url, "/")+1:] }

func fmtRow(v []float32) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(float64(x), 'f', 5, 32)
	}
	return "[" + strings.Join(s, " ") + "]"
}

func maxPixelDiff(a, b *imageproc.RGB) int {
	if a.W != b.W || a.H != b.H {
		return 255
	}
	d := 0
	for i := range a.Pix {
		d = max(d, int(math.Abs(float64(int(a.Pix[i])-int(b.Pix[i])))))
	}
	return d
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// Command vqa answers a question about a picture natively, with any GIT checkpoint in
// Hugging Face format:
//
//	go run ./tools/vqa -model DIR -image FILE -question TEXT [-max-new-tokens N] [-json] [-dump OUTDIR]
//
// -json prints one JSON object (input_ids, generated_ids, answer, stopped_by, timings);
// -dump writes the intermediate arrays in the reference fixtures' formats.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"

	"gitvqa/model"
	"gitvqa/model/hf"
	"gitvqa/model/imageproc"
	"gitvqa/model/modelfile"
	"gitvqa/model/npy"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "vqa:", err)
		}
		os.Exit(1)
	}
}

// Result is what -json prints.
type Result struct {
	InputIDs     []int   `json:"input_ids"`
	GeneratedIDs []int   `json:"generated_ids"`
	Answer       string  `json:"answer"`
	StoppedBy    string  `json:"stopped_by"`
	Timings      Timings `json:"timings"`
}

// Timings in seconds.
type Timings struct {
	Load         float64 `json:"load_s"`
	Encode       float64 `json:"encode_s"`
	ImagePrefill float64 `json:"image_prefill_s"`
	Prompt       float64 `json:"prompt_s"`
	Decode       float64 `json:"decode_s"`
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vqa", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelDir := fs.String("model", "", "model folder: a Hugging Face GIT checkpoint")
	imagePath := fs.String("image", "", "picture file (PNG, JPEG, GIF, BMP, WebP)")
	question := fs.String("question", "", "the question (empty: a caption)")
	maxTokens := fs.Int("max-tokens", model.DefaultMaxTokens, "most tokens to generate")
	asJSON := fs.Bool("json", false, "print one JSON object")
	dump := fs.String("dump", "", "also write the intermediate arrays (.npy) into this folder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	asked := false
	fs.Visit(func(f *flag.Flag) { asked = asked || f.Name == "question" })
	if *modelDir == "" || *imagePath == "" || !asked {
		fs.Usage()
		return errors.New("-model, -image and -question are required")
	}
	if *maxTokens <= 0 {
		return fmt.Errorf("-max-tokens must be positive, not %d", *maxTokens)
	}
	data, err := modelfile.ReadFile(*imagePath, modelfile.MaxImageBytes)
	if err != nil {
		return err
	}
	start := nowSeconds()
	m, err := hf.LoadDir(*modelDir)
	if err != nil {
		return err
	}
	for _, name := range m.Weights.Unused {
		fmt.Fprintf(stderr, "vqa: warning: the checkpoint's tensor %s is not used\n", name)
	}
	loadTime := nowSeconds() - start
	pre, err := m.Preprocess.PreprocessFile(data)
	if err != nil {
		return fmt.Errorf("%s: %w", *imagePath, err)
	}
	s, err := m.NewSession(nil)
	if err != nil {
		return err
	}
	var firstLogits []float32
	ans, err := s.Ask(ctx, pre.Pixels, *question, model.Options{
		MaxTokens: *maxTokens,
		OnLogits: func(step int, l []float32) {
			if step == 0 && *dump != "" {
				firstLogits = append([]float32(nil), l...)
			}
		},
	})
	if err != nil {
		return err
	}
	if *dump != "" {
		if err := writeDump(ctx, *dump, m, s, pre, firstLogits); err != nil {
			return err
		}
	}
	if !*asJSON {
		_, err := fmt.Fprintln(stdout, ans.Text)
		return err
	}
	t := ans.Timings
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(Result{
		InputIDs: ans.InputIDs, GeneratedIDs: ans.GeneratedIDs, Answer: ans.Text, StoppedBy: ans.StoppedBy,
		Timings: Timings{Load: loadTime, Encode: t.Encode.Seconds(), ImagePrefill: t.ImagePrefill.Seconds(), Prompt: t.Prompt.Seconds(), Decode: t.Decode.Seconds()},
	})
}

// writeDump writes the arrays the fixtures hold, in their dtypes and shapes.
func writeDump(ctx context.Context, dir string, m *model.Model, s *model.Session, pre *imageproc.Result, logits []float32) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	im, _, err := s.Image(ctx, pre.Pixels, model.Options{}) // cached: no recomputation
	if err != nil {
		return err
	}
	c := &m.Config
	size, n := c.Vision.ImageSize, c.NumImageTokens()
	arrays := map[string]*npy.Array{
		"preprocessed_uint8.npy":        {Shape: []int{pre.Cropped.H, pre.Cropped.W, 3}, Uint8: pre.Cropped.Pix},
		"pixel_values.npy":              {Shape: []int{1, 3, size, size}, Float32: pre.Pixels},
		"projected_visual_features.npy": {Shape: []int{1, n, c.HiddenSize}, Float32: im.Projected},
		"vision_last_hidden_state.npy":  {Shape: []int{1, n, c.Vision.HiddenSize}, Float32: im.Vision},
		"logits_last.npy":               {Shape: []int{len(logits)}, Float32: logits},
	}
	for name, a := range arrays {
		if err := npy.WriteFile(filepath.Join(dir, name), a); err != nil {
			return err
		}
	}
	return nil
}

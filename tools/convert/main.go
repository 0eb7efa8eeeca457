// Command convert turns a Hugging Face GIT folder into a model folder for the browser:
// manifest.json plus content-addressed chunks, Linear and embedding weights int8.
//
//	go run ./tools/convert -in HF_DIR -out MODEL_DIR [-dtype int8|f32] [-group N] [-chunk-mib N]
//	go run ./tools/convert -random large|tiny [-seed N] -out MODEL_DIR [...]
//
// -random writes the named architecture with seeded random weights (for benchmarks
// and demos; the answers are gibberish). The conversion is deterministic: the same
// input gives byte-identical folders.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gitvqa/model"
	"gitvqa/model/convert"
	"gitvqa/model/modelfile"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "convert:", err)
		}
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "Hugging Face GIT folder")
	out := fs.String("out", "", "model folder to write")
	dtype := fs.String("dtype", "int8", "int8, or f32 for an unquantized folder")
	group := fs.Int("group", 0, "int8 scale group along the input (e.g. 64); 0: one scale per output channel")
	chunkMiB := fs.Int("chunk-mib", modelfile.DefaultChunkBytes>>20, "chunk size in MiB")
	random := fs.String("random", "", "write seeded random weights of this architecture instead: large (git-large-vqav2) or a config.json (e.g. testdata/tiny/config.json)")
	seed := fs.Uint64("seed", 42, "seed for -random")
	vocab := fs.String("vocab", "", "vocab.txt for -random (e.g. testdata/tiny/vocab.txt, the real bert-base-uncased vocabulary)")
	quiet := fs.Bool("q", false, "no progress")
	task := fs.String("task", "", "vqa or caption: what the page offers (default: from the folder's name, as the hub names GIT checkpoints: VQA ones say vqa)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || (*in == "") == (*random == "") {
		fs.Usage()
		return errors.New("need -out and exactly one of -in and -random")
	}
	if *random != "" && *vocab == "" {
		return errors.New("-random needs -vocab (testdata/tiny/vocab.txt will do)")
	}
	if *chunkMiB <= 0 || *chunkMiB > modelfile.MaxChunkBytes>>20 {
		return fmt.Errorf("-chunk-mib %d is out of range", *chunkMiB)
	}
	var inputs convert.Inputs
	var closeSrc func()
	var err error
	if *random != "" {
		inputs, err = randomInputs(*random, *seed, *vocab)
	} else {
		inputs, closeSrc, err = convert.OpenFolder(*in)
	}
	if err != nil {
		return err
	}
	if closeSrc != nil {
		defer closeSrc()
	}
	// A model already in -out keeps loading until the new manifest replaces it (see
	// convert.Convert).
	o := convert.Options{DType: *dtype, Group: *group, ChunkBytes: *chunkMiB << 20, Task: *task}
	if o.Task == "" {
		o.Task = model.TaskVQA
		if *in != "" {
			abs, _ := filepath.Abs(*in)
			name := strings.ToLower(filepath.Base(abs))
			if !strings.HasPrefix(name, "git-") && !strings.Contains(name, "vqa") {
				return fmt.Errorf("-task vqa or -task caption: the folder's name (%s) does not say which the checkpoint is", filepath.Base(abs))
			}
			o.Task = model.TaskOf(name)
		}
	}
	if o.Task != model.TaskVQA && o.Task != model.TaskCaption {
		return fmt.Errorf("-task %q is neither %s nor %s", o.Task, model.TaskVQA, model.TaskCaption)
	}
	if *random != "" {
		o.Description = fmt.Sprintf("Test model: the %s architecture with seeded random weights (seed %d). Its answers are gibberish.", strings.TrimSuffix(filepath.Base(*random), ".json"), *seed)
	}
	if f, ok := stderr.(*os.File); ok && !*quiet {
		if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
			*quiet = true // no progress line in logs
		}
	}
	if !*quiet {
		o.Progress = func(done, total int, name string) {
			fmt.Fprintf(stderr, "\r%4d/%d %-80s", done, total, name)
			if done == total {
				fmt.Fprintln(stderr)
			}
		}
	}
	m, err := convert.Convert(inputs, *out, o)
	if err != nil {
		return err
	}
	if err := convert.RemoveStale(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d tensors, %d chunks + vocab, %d bytes (%.3f GB), %s\n",
		*out, len(m.Tensors), len(m.Chunks), m.TotalBytes, float64(m.TotalBytes)/1e9, describe(m))
	return nil
}

func describe(m *modelfile.Manifest) string {
	if m.DType == "f32" {
		return "float32"
	}
	if m.Group == 0 {
		return "int8 per output channel"
	}
	return fmt.Sprintf("int8 per group of %d", m.Group)
}

func randomInputs(arch string, seed uint64, vocabPath string) (convert.Inputs, error) {
	var in convert.Inputs
	var err error
	if in.Vocab, err = modelfile.ReadFile(vocabPath, modelfile.MaxVocabBytes); err != nil {
		return in, err
	}
	var cfg model.Config
	size := 420
	switch arch {
	case "large":
		cfg = model.LargeVQAv2Config()
	default:
		b, err := modelfile.ReadFile(arch, modelfile.MaxConfigBytes)
		if err != nil {
			return in, fmt.Errorf("-random: large, or a config.json: %w", err)
		}
		if cfg, err = model.ParseConfig(b); err != nil {
			return in, err
		}
		size = cfg.Vision.ImageSize
	}
	if in.Config, err = json.Marshal(cfg); err != nil {
		return in, err
	}
	in.Preprocessor = []byte(fmt.Sprintf(`{"image_processor_type":"CLIPImageProcessor","do_resize":true,"size":{"shortest_edge":%d},`+
		`"resample":3,"do_center_crop":true,"crop_size":{"height":%d,"width":%d},"do_rescale":true,"rescale_factor":0.00392156862745098,`+
		`"do_normalize":true,"image_mean":[0.48145466,0.4578275,0.40821073],"image_std":[0.26862954,0.26130258,0.27577711],"do_convert_rgb":true}`, size, size, size))
	in.Weights = model.NewRandomSource(&cfg, seed)
	return in, nil
}

// Package convert turns a GIT checkpoint (any model.Source: a Hugging Face folder, or
// random weights) into a model folder (package modelfile), one tensor at a time so
// memory stays at one tensor plus one chunk.
package convert

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gitvqa/model"
	"gitvqa/model/hf"
	"gitvqa/model/imageproc"
	"gitvqa/model/modelfile"
	"gitvqa/model/tokenize"
)

// Options choose the folder's encoding.
type Options struct {
	DType      string // "int8" (default) or "f32"
	Group      int    // int8 scale group along the input; 0: one scale per output channel
	ChunkBytes int    // 0: modelfile.DefaultChunkBytes
	FS         modelfile.FS
	// Description is shown to users of the folder (e.g. "test model").
	Description string
	// Task is model.TaskVQA or model.TaskCaption (what the page offers); "": VQA.
	Task string
	// Progress, when set, hears of each tensor written.
	Progress func(done, total int, name string)
}

// Inputs are the parts of a checkpoint besides its weights, as file contents.
type Inputs struct {
	Config, Preprocessor, Vocab []byte
	Weights                     model.Source
}

// OpenFolder reads a Hugging Face GIT folder (config.json, preprocessor_config.json,
// vocab.txt and the weights); close releases the weights' file.
func OpenFolder(dir string) (in Inputs, close func(), err error) {
	for _, f := range []struct {
		name  string
		limit int64
		dst   *[]byte
	}{{"config.json", modelfile.MaxConfigBytes, &in.Config}, {"preprocessor_config.json", modelfile.MaxConfigBytes, &in.Preprocessor}, {"vocab.txt", modelfile.MaxVocabBytes, &in.Vocab}} {
		if *f.dst, err = modelfile.ReadFile(filepath.Join(dir, f.name), f.limit); err != nil {
			return Inputs{}, nil, err
		}
	}
	if in.Weights, close, err = hf.OpenCheckpoint(dir); err != nil {
		return Inputs{}, nil, err
	}
	return in, close, nil
}

// Quantized reports whether a tensor is stored int8: Linear, embedding and patch
// weights are; LayerNorm, biases, the class and position embeddings stay float32.
func Quantized(name string, shape []int) bool {
	return len(shape) >= 2 && strings.HasSuffix(name, ".weight") && !strings.Contains(name, "position_embedding")
}

// Convert writes the model folder into dir and returns its manifest. Everything is
// checked before the first byte is written (config, preprocessor and vocabulary
// together, every tensor's name and shape as it is read), and the manifest is renamed
// into place last: until then a model already in dir keeps loading, and chunks are
// named by their contents, so the new ones cannot overwrite the old ones'. On failure
// the files this conversion wrote are removed again.
func Convert(in Inputs, dir string, o Options) (*modelfile.Manifest, error) {
	cfg, err := model.ParseConfig(in.Config)
	if err != nil {
		return nil, err
	}
	pre, err := imageproc.ParseConfig(in.Preprocessor)
	if err != nil {
		return nil, err
	}
	tok, err := tokenize.New(in.Vocab)
	if err != nil {
		return nil, err
	}
	if err := model.CheckParts(&cfg, &pre, tok); err != nil {
		return nil, err
	}
	m, err := convert(in, &cfg, dir, o)
	if err != nil {
		removeUnlisted(dir) // what a failed run left: files no manifest in dir lists
	}
	return m, err
}

func convert(in Inputs, cfg *model.Config, dir string, o Options) (*modelfile.Manifest, error) {
	if o.DType == "" {
		o.DType = "int8"
	}
	if o.DType != "int8" && o.DType != "f32" {
		return nil, fmt.Errorf("dtype %q is neither int8 nor f32", o.DType)
	}
	if o.Group < 0 {
		return nil, fmt.Errorf("group %d is negative", o.Group)
	}
	if o.ChunkBytes == 0 {
		o.ChunkBytes = modelfile.DefaultChunkBytes
	}
	w, err := modelfile.NewWriter(dir, o.ChunkBytes, o.FS)
	if err != nil {
		return nil, err
	}
	w.Description, w.Task = o.Description, o.Task
	specs := model.ExpectedTensors(cfg)
	for i, s := range specs {
		shape, ok := in.Weights.Shape(s.Name)
		if !ok {
			return nil, fmt.Errorf("checkpoint has no tensor %q", s.Name)
		}
		if fmt.Sprint(shape) != fmt.Sprint(s.Shape) {
			return nil, fmt.Errorf("tensor %q has shape %v, the config needs %v", s.Name, shape, s.Shape)
		}
		v, err := in.Weights.Float32(s.Name)
		if err != nil {
			return nil, err
		}
		if o.DType == "int8" && Quantized(s.Name, s.Shape) {
			err = w.AddInt8(s.Name, s.Shape, v, o.Group)
		} else {
			err = w.AddF32(s.Name, s.Shape, v)
		}
		if err != nil {
			return nil, err
		}
		if o.Progress != nil {
			o.Progress(i+1, len(specs), s.Name)
		}
	}
	group := o.Group
	if o.DType == "f32" {
		group = 0
	}
	return w.Finish(in.Config, in.Preprocessor, in.Vocab, o.DType, group)
}

// removeUnlisted deletes the chunk-like files (named <sha256>.bin or .txt) and
// temporary files in dir that its manifest, if any, does not list.
func removeUnlisted(dir string) error {
	keep := map[string]bool{}
	if m, err := modelfile.ReadManifest(dir); err == nil {
		keep[m.Tokenizer.File] = true
		for _, c := range m.Chunks {
			keep[c.File] = true
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		chunk := (strings.HasSuffix(n, ".bin") || strings.HasSuffix(n, ".txt")) && len(n) == 64+4
		if (chunk && !keep[n]) || strings.HasPrefix(n, ".part-") {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// RemoveStale deletes what an earlier conversion into dir left that its manifest no
// longer lists.
func RemoveStale(dir string) error { return removeUnlisted(dir) }

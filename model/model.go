// Package model runs GIT (microsoft/git-large-vqav2 and any checkpoint of its
// architecture in Hugging Face format) as Gorgonia graphs: CLIP image encoder,
// visual projection, BERT-style text decoder with GIT's attention mask, greedy VQA
// decoding with per-image and per-token caches. Pure Go, no syscall/js: the same code
// runs natively and in the browser's worker.
package model

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"gitvqa/model/imageproc"
	"gitvqa/model/modelfile"
	"gitvqa/model/safetensors"
	"gitvqa/model/tokenize"
	"gitvqa/model/torchbin"
)

// Model is a loaded checkpoint: immutable, shared by any number of Sessions.
type Model struct {
	Config     Config
	Preprocess imageproc.Config
	Tokenizer  *tokenize.Tokenizer
	Weights    *Weights
}

// New assembles a model from its parts, checking that they fit together.
func New(cfg Config, pre imageproc.Config, tok *tokenize.Tokenizer, src Source) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h, w := pre.OutputSize(cfg.Vision.ImageSize, cfg.Vision.ImageSize); h != cfg.Vision.ImageSize || w != cfg.Vision.ImageSize {
		return nil, fmt.Errorf("the preprocessor makes %d×%d images, the vision model takes %d×%d", w, h, cfg.Vision.ImageSize, cfg.Vision.ImageSize)
	}
	if !pre.DoCenterCrop && pre.ShortestEdge > 0 {
		return nil, fmt.Errorf("a preprocessor without center crop gives pictures of varying size, which the vision model cannot take")
	}
	if tok.VocabSize() != cfg.VocabSize {
		return nil, fmt.Errorf("vocab.txt has %d tokens, config.json says %d", tok.VocabSize(), cfg.VocabSize)
	}
	w, err := LoadWeights(&cfg, src)
	if err != nil {
		return nil, err
	}
	return &Model{Config: cfg, Preprocess: pre, Tokenizer: tok, Weights: w}, nil
}

// LoadDir loads a model folder (manifest.json and chunks, as tools/convert writes
// them) or a Hugging Face GIT folder: config.json, preprocessor_config.json, vocab.txt
// and model.safetensors (preferred) or pytorch_model.bin.
func LoadDir(dir string) (*Model, error) {
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		m, err := modelfile.ReadManifest(dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		return FromFolder(context.Background(), m, modelfile.DirSource(dir), nil)
	}
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		return b, nil
	}
	cb, err := read("config.json")
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfig(cb)
	if err != nil {
		return nil, err
	}
	pb, err := read("preprocessor_config.json")
	if err != nil {
		return nil, err
	}
	pre, err := imageproc.ParseConfig(pb)
	if err != nil {
		return nil, err
	}
	vb, err := read("vocab.txt")
	if err != nil {
		return nil, err
	}
	tok, err := tokenize.New(vb)
	if err != nil {
		return nil, err
	}
	src, closeSrc, err := OpenCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	defer closeSrc()
	return New(cfg, pre, tok, src)
}

// FromFolder loads a model folder through src (a directory, IndexedDB, the network),
// verifying every file.
func FromFolder(ctx context.Context, m *modelfile.Manifest, src modelfile.ChunkSource, progress modelfile.Progress) (*Model, error) {
	cfg, err := ParseConfig(m.Config)
	if err != nil {
		return nil, err
	}
	pre, err := imageproc.ParseConfig(m.Preprocessor)
	if err != nil {
		return nil, err
	}
	store, err := modelfile.Load(ctx, m, src, progress)
	if err != nil {
		return nil, err
	}
	tok, err := tokenize.New(store.Vocab)
	if err != nil {
		return nil, err
	}
	return New(cfg, pre, tok, store)
}

// OpenCheckpoint opens the weights of a Hugging Face folder: model.safetensors, or
// pytorch_model.bin when there is none.
func OpenCheckpoint(dir string) (Source, func(), error) {
	st := filepath.Join(dir, "model.safetensors")
	if _, err := os.Stat(st); err == nil {
		f, err := safetensors.Open(st)
		if err != nil {
			return nil, nil, err
		}
		return SafetensorsSource{f}, func() { f.Close() }, nil
	}
	bin := filepath.Join(dir, "pytorch_model.bin")
	if _, err := os.Stat(bin); err == nil {
		f, err := torchbin.Open(bin)
		if err != nil {
			return nil, nil, err
		}
		return f, func() {}, nil
	}
	return nil, nil, fmt.Errorf("%s has neither model.safetensors nor pytorch_model.bin", dir)
}

// SafetensorsSource adapts a safetensors file to Source.
type SafetensorsSource struct{ *safetensors.File }

// Shape implements Source.
func (s SafetensorsSource) Shape(name string) ([]int, bool) {
	i, ok := s.Info(name)
	return i.Shape, ok
}

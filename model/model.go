// Package model runs GIT (microsoft/git-large-vqav2 and any checkpoint of its
// architecture in Hugging Face format) as Gorgonia graphs: CLIP image encoder,
// visual projection, BERT-style text decoder with GIT's attention mask, greedy VQA
// decoding with per-image and per-token caches. Pure Go, no syscall/js: the same code
// runs natively and in the browser's worker; model/hf reads folders from disk.
package model

import (
	"context"
	"fmt"
	"time"

	"gitvqa/model/imageproc"
	"gitvqa/model/modelfile"
	"gitvqa/model/tokenize"
)

// Model is a loaded checkpoint: immutable, shared by any number of Sessions.
type Model struct {
	Config     Config
	Preprocess imageproc.Config
	Tokenizer  *tokenize.Tokenizer
	Weights    *Weights
	// Loaded says where a model folder's load went (FromFolder only).
	Loaded LoadTimes
}

// LoadTimes splits FromFolder's time: getting the files (and cutting the tensors out
// of them as they come, Decode), then building the weights.
type LoadTimes struct {
	Files, Decode, Weights time.Duration
}

// New assembles a model from its parts, checking that they fit together.
func New(cfg Config, pre imageproc.Config, tok *tokenize.Tokenizer, src Source) (*Model, error) {
	if err := CheckParts(&cfg, &pre, tok); err != nil {
		return nil, err
	}
	w, err := LoadWeights(&cfg, src)
	if err != nil {
		return nil, err
	}
	return &Model{Config: cfg, Preprocess: pre, Tokenizer: tok, Weights: w}, nil
}

// CheckParts checks that a config, a preprocessor and a vocabulary fit together, before
// any weight is read.
func CheckParts(cfg *Config, pre *imageproc.Config, tok *tokenize.Tokenizer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if h, w := pre.OutputSize(cfg.Vision.ImageSize, cfg.Vision.ImageSize); h != cfg.Vision.ImageSize || w != cfg.Vision.ImageSize {
		return fmt.Errorf("the preprocessor makes %d×%d images, the vision model takes %d×%d", w, h, cfg.Vision.ImageSize, cfg.Vision.ImageSize)
	}
	if !pre.DoCenterCrop && pre.ShortestEdge > 0 {
		return fmt.Errorf("a preprocessor without center crop gives pictures of varying size, which the vision model cannot take")
	}
	if tok.VocabSize() != cfg.VocabSize {
		return fmt.Errorf("vocab.txt has %d tokens, config.json says %d", tok.VocabSize(), cfg.VocabSize)
	}
	return nil
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
	start := time.Now()
	store, err := modelfile.Load(ctx, m, src, progress)
	if err != nil {
		return nil, err
	}
	lt := LoadTimes{Files: time.Since(start), Decode: store.Decode}
	start = time.Now()
	tok, err := tokenize.New(store.Vocab)
	if err != nil {
		return nil, err
	}
	md, err := New(cfg, pre, tok, store)
	if err != nil {
		return nil, err
	}
	lt.Weights = time.Since(start)
	md.Loaded = lt
	return md, nil
}

// Package hf reads models from disk for native tools and tests: a model folder
// (manifest.json and chunks, as tools/convert writes them) or a Hugging Face GIT folder
// (config.json, preprocessor_config.json, vocab.txt and model.safetensors or
// pytorch_model.bin). The browser never links it: it loads model folders through
// modelfile and its own chunk sources.
package hf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gitvqa/model"
	"gitvqa/model/imageproc"
	"gitvqa/model/modelfile"
	"gitvqa/model/safetensors"
	"gitvqa/model/tokenize"
	"gitvqa/model/torchbin"
)

// LoadDir loads a model folder or a Hugging Face GIT folder (model.safetensors is
// preferred over pytorch_model.bin).
func LoadDir(dir string) (*model.Model, error) {
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		m, err := modelfile.ReadManifest(dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		return model.FromFolder(context.Background(), m, modelfile.DirSource(dir), nil)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s is neither a model folder (it has no manifest.json) nor a Hugging Face folder (no config.json)", dir)
	}
	var cfg model.Config
	var pre imageproc.Config
	var tok *tokenize.Tokenizer
	for _, f := range []struct {
		name  string
		limit int64
		parse func([]byte) error
	}{
		{"config.json", modelfile.MaxConfigBytes, func(b []byte) (err error) { cfg, err = model.ParseConfig(b); return }},
		{"preprocessor_config.json", modelfile.MaxConfigBytes, func(b []byte) (err error) { pre, err = imageproc.ParseConfig(b); return }},
		{"vocab.txt", modelfile.MaxVocabBytes, func(b []byte) (err error) { tok, err = tokenize.New(b); return }},
	} {
		b, err := modelfile.ReadFile(filepath.Join(dir, f.name), f.limit)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
		if err := f.parse(b); err != nil {
			return nil, err
		}
	}
	src, closeSrc, err := OpenCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	defer closeSrc()
	return model.New(cfg, pre, tok, src)
}

// OpenCheckpoint opens the weights of a Hugging Face folder: model.safetensors, or
// pytorch_model.bin when there is none.
func OpenCheckpoint(dir string) (model.Source, func(), error) {
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

// SafetensorsSource adapts a safetensors file to model.Source.
type SafetensorsSource struct{ *safetensors.File }

// Shape implements model.Source.
func (s SafetensorsSource) Shape(name string) ([]int, bool) {
	i, ok := s.Info(name)
	return i.Shape, ok
}

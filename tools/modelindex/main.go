// Command modelindex writes a site's models/index.json: every model folder under it (a
// manifest.json beside its chunks), with its size, task and description, and which one
// the page loads by default. The demo lists them and lets the user switch.
//
//	go run ./tools/modelindex [-default models/git-large-vqav2/] static/models
package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"gitvqa/model/modelfile"
)

// Index is models/index.json. Paths are relative to the page (models/NAME/).
type Index struct {
	Default string  `json:"default"`
	Models  []Entry `json:"models"`
}

// Entry is one model folder.
type Entry struct {
	Path        string `json:"path"`
	Name        string `json:"name"`
	Bytes       int64  `json:"bytes"`
	Task        string `json:"task"` // vqa or caption
	DType       string `json:"dtype"`
	Description string `json:"description,omitempty"`
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "modelindex:", err)
		}
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("modelindex", flag.ContinueOnError)
	def := fs.String("default", "", "the folder the page loads first (models/NAME/); empty: keep the index's, else the first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: modelindex [-default models/NAME/] SITE/models")
	}
	dir := fs.Arg(0)
	ix, err := Build(dir)
	if err != nil {
		return err
	}
	var old Index
	if b, err := os.ReadFile(filepath.Join(dir, "index.json")); err == nil {
		json.Unmarshal(b, &old)
	}
	ix.Default = *def
	for _, m := range ix.Models {
		if ix.Default == "" && m.Path == old.Default {
			ix.Default = old.Default // still there: kept
		}
	}
	if ix.Default == "" && len(ix.Models) > 0 {
		ix.Default = ix.Models[0].Path
	}
	b, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "index.json"), append(b, '\n'), 0o644)
}

// Build lists the model folders directly under dir.
func Build(dir string) (Index, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return Index{}, err
	}
	var ix Index
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "manifest.json"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return Index{}, err
		}
		m, err := modelfile.Parse(b)
		if err != nil {
			return Index{}, fmt.Errorf("%s: %w", e.Name(), err)
		}
		ix.Models = append(ix.Models, Entry{Path: "models/" + e.Name() + "/", Name: e.Name(), Bytes: m.TotalBytes,
			Task: cmp.Or(m.Task, "vqa"), DType: m.DType, Description: m.Description})
	}
	sort.Slice(ix.Models, func(i, j int) bool { return ix.Models[i].Name < ix.Models[j].Name })
	return ix, nil
}

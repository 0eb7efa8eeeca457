package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The edited copies parse, no longer import what they were edited to drop, and the
// go.mod points at them.
func TestEditedModulesDropSerializationAndTemplates(t *testing.T) {
	out := t.TempDir()
	if err := write(out, "../.."); err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(out, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	dropped := map[string]bool{"text/template": true, "github.com/google/flatbuffers/go": true,
		"gorgonia.org/tensor/internal/serialization/fb": true, "gorgonia.org/tensor/internal/serialization/pb": true}
	for _, e := range edits {
		dir := filepath.Join(out, e.module)
		if !strings.Contains(string(gomod), "replace "+e.module+" => "+dir+"\n") {
			t.Errorf("go.mod does not replace %s:\n%s", e.module, gomod)
		}
		edited := filepath.Join(dir, e.file)
		f, err := parser.ParseFile(token.NewFileSet(), edited, nil, 0)
		if err != nil {
			t.Fatalf("%s: %v", e.file, err)
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); dropped[p] {
				t.Errorf("%s still imports %s", e.file, p)
			}
		}
	}
}

func TestCutRefusesUnexpectedSource(t *testing.T) {
	if _, err := cut("package x\n", "/* FB SERIALIZATION */"); err == nil {
		t.Error("a missing marker was accepted")
	}
	if _, err := cut("package x\nimport \"a\"\n/* M */", "/* M */", `import "b"`); err == nil {
		t.Error("a missing line was accepted")
	}
}

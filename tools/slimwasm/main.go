// Command slimwasm writes a go.mod for the browser build (go build -modfile) that
// replaces two modules with edited copies, dropping what the browser never uses and
// which cost gitvqa.wasm almost half its size:
//
//   - gorgonia.org/tensor's flatbuffers and protobuf serialization (Dense.FBEncode and
//     friends). The protobuf package registers its types at init, which pulls in the
//     protobuf runtime, and that runtime calls reflect.Value.Method: once any reachable
//     code does, the linker must keep every exported method of every type.
//   - gorgonia.org/gorgonia's text/template node labels for ExprGraph.ToDot (same reason;
//     the labels become plain "<id: name>").
//
// 38.5 MB → 21.4 MB raw, 7.5 → 4.6 MB gzip, and V8 compiles it in about half the time.
// The copies are made from the exact versions go.mod pins (their non-test Go files; go
// refuses overlays of the module cache); a version whose source no longer has the
// expected markers fails here, loudly, rather than building something else. Native
// builds and tests use the libraries unchanged.
//
//	go run ./tools/slimwasm -out .cache/slim   # then go build -modfile .cache/slim/go.mod
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// edit rewrites one file of a module.
type edit struct {
	module, file string
	apply        func(src string) (string, error)
}

var edits = []edit{
	{"gorgonia.org/tensor", "dense_io.go", dropTensorSerialization},
	{"gorgonia.org/gorgonia", "templates.go", dropNodeTemplates},
}

func main() {
	out := flag.String("out", ".cache/slim", "folder to write the edited modules, go.mod and go.sum into")
	flag.Parse()
	if err := write(*out, "."); err != nil {
		log.Fatal("slimwasm: ", err)
	}
}

// write makes out/go.mod: the module's own go.mod (in root) with a replace for each
// edited module, pointing at its edited copy in out.
func write(out, root string) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return err
	}
	gosum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		return err
	}
	replaces := "\n// Written by tools/slimwasm for the browser build.\n"
	done := map[string]string{}
	for _, e := range edits {
		copyDir, ok := done[e.module]
		if !ok {
			dir, err := moduleDir(e.module)
			if err != nil {
				return err
			}
			copyDir = filepath.Join(abs, e.module)
			if err := copySources(dir, copyDir); err != nil {
				return err
			}
			done[e.module] = copyDir
			replaces += fmt.Sprintf("replace %s => %s\n", e.module, copyDir)
		}
		name := filepath.Join(copyDir, e.file)
		src, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		edited, err := e.apply(string(src))
		if err != nil {
			return fmt.Errorf("%s/%s: %w (a new version of %s? update tools/slimwasm)", e.module, e.file, err, e.module)
		}
		if err := os.WriteFile(name, []byte(edited), 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(abs, "go.sum"), gosum, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(abs, "go.mod"), append(gomod, replaces...), 0o644)
}

// copySources copies a module's go.mod and non-test Go files (its examples and media
// are most of its size) into a fresh folder.
func copySources(from, to string) error {
	if err := os.RemoveAll(to); err != nil {
		return err
	}
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			if d.Name() == "testdata" || d.Name() == "examples" || strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Name() != "go.mod" && (!strings.HasSuffix(d.Name(), ".go") || strings.HasSuffix(d.Name(), "_test.go")) {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(to, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
}

// moduleDir is where the build reads a module from (go.mod's version, or its replace).
func moduleDir(module string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", module, err)
	}
	dir := strings.TrimSpace(string(b))
	if dir == "" {
		return "", fmt.Errorf("%s is not downloaded (go mod download)", module)
	}
	return dir, nil
}

// cut removes each of the lines (exactly, once) and everything from marker on.
func cut(src, marker string, lines ...string) (string, error) {
	i := strings.Index(src, marker)
	if i < 0 {
		return "", fmt.Errorf("no %q", marker)
	}
	src = src[:i]
	for _, l := range lines {
		if strings.Count(src, l+"\n") != 1 {
			return "", fmt.Errorf("no line %q", l)
		}
		src = strings.Replace(src, l+"\n", "", 1)
	}
	return src, nil
}

func dropTensorSerialization(src string) (string, error) {
	return cut(src, "/* FB SERIALIZATION */",
		`	flatbuffers "github.com/google/flatbuffers/go"`,
		`	"gorgonia.org/tensor/internal/serialization/fb"`,
		`	"gorgonia.org/tensor/internal/serialization/pb"`)
}

func dropNodeTemplates(src string) (string, error) {
	src, err := cut(src, "var funcMap = template.FuncMap{", `	"text/template"`)
	if err != nil {
		return "", err
	}
	return src + `
// exprNodeTempl stands in for the text/template that labelled ToDot's nodes
// (gitvqa's tools/slimwasm).
var exprNodeTempl nodeLabel

type nodeLabel struct{}

func (nodeLabel) ExecuteTemplate(w interface{ WriteString(string) (int, error) }, _ string, n *Node) error {
	_, err := w.WriteString(fmt.Sprintf("<%x: %s>", n.ID(), dotEscape(strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(n.Name()))))
	return err
}
`, nil
}

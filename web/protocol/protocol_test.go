//go:build !js

package protocol

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	"gitvqa/model"
	"gitvqa/model/imageproc"
	"gitvqa/model/modelfile"
)

// static/protocol.js and protocol.d.ts must be what go generate makes from this package.
func TestGeneratedFilesAreUpToDate(t *testing.T) {
	src, err := os.ReadFile("protocol.go")
	if err != nil {
		t.Fatal(err)
	}
	for file, render := range map[string]func([]byte) ([]byte, error){"protocol.js": JavaScript, "protocol.d.ts": TypeScript} {
		got, err := os.ReadFile("../../static/" + file)
		if err != nil {
			t.Fatal(err)
		}
		want, err := render(src)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("static/%s is stale: run go generate ./web/protocol", file)
		}
	}
}

// Every message has its own type, and New makes each one from it.
func TestKindsAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Messages {
		if seen[m.Type()] {
			t.Fatalf("two messages of type %q", m.Type())
		}
		seen[m.Type()] = true
		if got := New(m.Type()); reflect.TypeOf(got).Elem() != reflect.TypeOf(m) {
			t.Fatalf("New(%q) is a %T", m.Type(), got)
		}
	}
	if New("dance") != nil {
		t.Fatal("an unknown type made a message")
	}
}

// The page's task names are the model's and the manifest's.
func TestTasksAreTheModels(t *testing.T) {
	if TaskVQA != model.TaskVQA || TaskCaption != model.TaskCaption {
		t.Fatalf("protocol %q %q, model %q %q", TaskVQA, TaskCaption, model.TaskVQA, model.TaskCaption)
	}
	for _, task := range []string{TaskVQA, TaskCaption} {
		m := modelfile.Manifest{Format: modelfile.Format, Version: modelfile.Version, Task: task}
		if err := m.Validate(); err != nil && strings.Contains(err.Error(), "task") {
			t.Errorf("the manifest refuses task %q: %v", task, err)
		}
	}
}

// The page refuses what the worker would: the same pixel limit.
func TestMaxPixelsIsTheWorkers(t *testing.T) {
	if MaxPixels != imageproc.MaxPixels {
		t.Fatalf("protocol.MaxPixels %d, imageproc.MaxPixels %d", MaxPixels, imageproc.MaxPixels)
	}
}

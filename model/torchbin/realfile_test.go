//go:build !js

package torchbin

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gopickle ships files written by real PyTorch; read one to check our expectations
// of the format, not only our own writer.
func TestReadsRealTorchFile(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/nlpodyssey/gopickle").Output()
	if err != nil {
		t.Fatalf("locating gopickle: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "pytorch", "testdata")
	for _, name := range []string{"tensor_float32_proto2_zip.pt", "tensor_float16_proto2_zip.pt"} {
		// These hold a bare tensor rather than a state dict: Open must say so clearly.
		_, err := Open(filepath.Join(dir, name))
		if err == nil || !strings.Contains(err.Error(), "not a state dict") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

//go:build !js

package kernels_test

import (
	"gitvqa/wasm/kernels"
	"strings"
	"testing"

	"gitvqa/wasm/kernels/ktest"
)

func TestRelaxedRewrite(t *testing.T) {
	src, n := kernels.Relaxed(kernels.Source)
	if n != 12 || strings.Count(src, "f32x4.relaxed_madd") != n+1 { // +1: the header comment
		t.Fatalf("%d multiply-adds fused", n)
	}
	if _, err := kernels.Assemble(src, true); err != nil {
		t.Fatal(err)
	}
}

// The plain module, run natively by wazero, against the Go reference.
func TestModuleMatchesReference(t *testing.T) {
	ktest.Run(t, kernels.Accel{M: newWZ(t)})
}

package protocol

import (
	"bytes"
	"os"
	"testing"
)

// static/protocol.js must be what go generate makes from this package.
func TestJavaScriptIsUpToDate(t *testing.T) {
	got, err := os.ReadFile("../../static/protocol.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, JavaScript()) {
		t.Fatal("static/protocol.js is stale: run go generate ./web/protocol")
	}
}

package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// JavaScript renders the constants as an ES module (static/protocol.js).
func JavaScript() []byte {
	var b bytes.Buffer
	b.WriteString("// Generated from web/protocol by `go generate ./web/protocol`. Do not edit.\n")
	b.WriteString("// The messages between the page (vqa.js) and the worker (the Go runtime).\n")
	names := make([]string, 0, len(Constants))
	for n := range Constants {
		names = append(names, n)
	}
	sort.Strings(names)
	b.WriteString("export const protocol = Object.freeze({\n")
	for _, n := range names {
		v, _ := json.Marshal(Constants[n])
		fmt.Fprintf(&b, "  %s: %s,\n", n, v)
	}
	b.WriteString("});\n")
	return b.Bytes()
}

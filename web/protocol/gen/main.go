//go:build !js

// Command gen writes static/protocol.js and its TypeScript declarations,
// static/protocol.d.ts, from package protocol (run by go generate in web/protocol).
package main

import (
	"flag"
	"log"
	"os"

	"gitvqa/web/protocol"
)

func main() {
	out := flag.String("out", "protocol.js", "file to write")
	dts := flag.String("dts", "protocol.d.ts", "TypeScript declarations to write")
	flag.Parse()
	src, err := os.ReadFile("protocol.go")
	if err != nil {
		log.Fatal(err)
	}
	js, err := protocol.JavaScript(src)
	if err != nil {
		log.Fatal(err)
	}
	ts, err := protocol.TypeScript(src)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, js, 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*dts, ts, 0o644); err != nil {
		log.Fatal(err)
	}
}

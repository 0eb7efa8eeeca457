//go:build !js

// Command gen writes static/protocol.js from package protocol (run by go generate in
// web/protocol).
package main

import (
	"flag"
	"log"
	"os"

	"gitvqa/web/protocol"
)

func main() {
	out := flag.String("out", "protocol.js", "file to write")
	flag.Parse()
	src, err := os.ReadFile("protocol.go")
	if err != nil {
		log.Fatal(err)
	}
	js, err := protocol.JavaScript(src)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, js, 0o644); err != nil {
		log.Fatal(err)
	}
}

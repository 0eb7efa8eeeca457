// Command gen writes static/protocol.js from package protocol's constants.
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
	if err := os.WriteFile(*out, protocol.JavaScript(), 0o644); err != nil {
		log.Fatal(err)
	}
}

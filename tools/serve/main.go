// Command serve serves the site for development and tests:
//
//	go run ./tools/serve [-addr 127.0.0.1:8080] [-dir static] [-isolate]
//	    [-drop PATH:BYTES] [-corrupt PATH] [-fail PATH] [-delay 200ms] [-v]
//
// It listens on loopback unless told otherwise. -isolate adds the COOP/COEP headers
// that make the page cross-origin isolated (SharedArrayBuffer). The fault flags make
// requests whose path contains PATH fail once: cut after BYTES, corrupted, or 503.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"gitvqa/tools/serve/server"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	dir := flag.String("dir", "static", "folder to serve")
	isolate := flag.Bool("isolate", false, "send Cross-Origin-Opener/Embedder-Policy headers")
	drop := flag.String("drop", "", "PATH:BYTES — cut the first response whose path contains PATH after BYTES")
	corrupt := flag.String("corrupt", "", "PATH — corrupt the first response whose path contains PATH")
	fail := flag.String("fail", "", "PATH — answer 503 to the first request whose path contains PATH")
	stall := flag.String("stall", "", "PATH — send nothing more after the headers of the first response whose path contains PATH")
	html := flag.String("html", "", "PATH — answer the first request whose path contains PATH with a web page")
	delay := flag.Duration("delay", 0, "delay every response")
	verbose := flag.Bool("v", false, "log requests")
	flag.Parse()
	if st, err := os.Stat(*dir); err != nil || !st.IsDir() {
		log.Fatalf("serve: %s is not a folder", *dir)
	}
	s := server.New(*dir)
	s.Isolation = *isolate
	if *verbose {
		s.Log = os.Stderr
	}
	f := server.Faults{Delay: *delay, DropAfter: map[string]int{}, DropTimes: map[string]int{}, Corrupt: map[string]int{}, Status: map[string]int{},
		Stall: map[string]int{}, HTML: map[string]int{}}
	if *drop != "" {
		i := strings.LastIndex(*drop, ":")
		n, err := strconv.Atoi((*drop)[i+1:])
		if i < 0 || err != nil {
			log.Fatalf("serve: -drop wants PATH:BYTES")
		}
		f.DropAfter[(*drop)[:i]], f.DropTimes[(*drop)[:i]] = n, 1
	}
	if *corrupt != "" {
		f.Corrupt[*corrupt] = 1
	}
	if *fail != "" {
		f.Status[*fail] = 1
	}
	if *stall != "" {
		f.Stall[*stall] = 1
	}
	if *html != "" {
		f.HTML[*html] = 1
	}
	s.SetFaults(f)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("serve: %v", err)
	}
	fmt.Printf("serving %s at http://%s/\n", *dir, ln.Addr())
	log.Fatal(http.Serve(ln, s))
}

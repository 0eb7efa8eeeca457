// Command fetch downloads a GIT checkpoint from the Hugging Face hub:
//
//	go run ./tools/fetch [-repo microsoft/git-large-vqav2] [-revision main] -out DIR
//
// It fetches config.json, preprocessor_config.json, vocab.txt and model.safetensors
// (pytorch_model.bin when the repository has no safetensors) from the hub's
// resolve/ URLs, resuming interrupted downloads with HTTP Range requests, retrying
// with backoff, and checking each file's size and sha256 against the hub's LFS
// metadata when the hub gives it. A file appears under its name only once complete
// and verified (package hub does the work).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"gitvqa/tools/fetch/hub"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "fetch:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, log io.Writer) error {
	fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
	fs.SetOutput(log)
	f := hub.Fetcher{Log: log}
	fs.StringVar(&f.Endpoint, "endpoint", "https://huggingface.co", "hub address")
	fs.StringVar(&f.Repo, "repo", "microsoft/git-large-vqav2", "model repository")
	fs.StringVar(&f.Revision, "revision", "main", "branch, tag or commit")
	fs.IntVar(&f.Retries, "retries", 8, "attempts per file after a failure")
	out := fs.String("out", "", "folder to download into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return errors.New("-out is required")
	}
	return f.Checkpoint(ctx, *out)
}

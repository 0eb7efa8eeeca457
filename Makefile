# gitvqa — visual question answering in the browser.
# `make test` runs every test layer and installs what it needs; see README.md.

SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin:$(shell go env GOPATH 2>/dev/null || echo $(HOME)/go)/bin
GO ?= go

.PHONY: test test-native test-wasm-build vet bench-native fuzz

test: vet test-native test-wasm-build

vet:
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./model/...

test-native:
	$(GO) test ./...

# model/ must build for the browser.
test-wasm-build:
	GOOS=js GOARCH=wasm $(GO) build ./model/...

# One question through the full-size architecture (random weights), natively.
bench-native:
	$(GO) test -run XXX -bench FullSize -benchtime 1x ./model/

# A minute of each fuzz target.
fuzz:
	$(GO) test ./model/tokenize -run XXX -fuzz FuzzTokenize -fuzztime 60s
	$(GO) test ./model/imageproc -run XXX -fuzz FuzzPreprocess -fuzztime 60s
	$(GO) test ./model/safetensors -run XXX -fuzz FuzzReader -fuzztime 60s

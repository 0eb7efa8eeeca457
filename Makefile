# gitvqa — visual question answering in the browser.
# `make test` runs every test layer and installs what it needs; see README.md.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
export PATH := $(PATH):/usr/local/go/bin:$(shell go env GOPATH 2>/dev/null || echo $(HOME)/go)/bin
GO ?= go

.PHONY: verify-real test-verify-real package test-package test-browsers browser-deps bench bench-peer test deps test-native test-wasm test-e2e e2e test-wasm-build vet bench-native bench-kernels bench-kernels-ab bench-kernels-wasm test-large fuzz model site demo serve

WASM_EXEC := $(shell go env GOROOT 2>/dev/null || echo /usr/local/go)/lib/wasm/go_js_wasm_exec
# A GIT checkpoint of the hub (make model, make verify-real): git-large-vqav2 by default;
# the others of the README's table work the same (MODEL=microsoft/git-base-vqav2).
MODEL ?= microsoft/git-large-vqav2
HF_CACHE ?= .cache/hf/$(notdir $(MODEL))
MODEL_DIR ?= static/models/$(notdir $(MODEL))

# Three layers: native Go tests, the same code as wasm in headless Chromium
# (wasmbrowsertest), and the real page end to end (chromedp).
test: deps vet test-wasm-build test-native test-wasm test-e2e test-package test-browsers test-verify-real

BIN := $(CURDIR)/.cache/bin
WASMBROWSERTEST_VERSION := v0.11.0

# What the tests need that a fresh machine lacks: Debian's Chromium and wabt (wat2wasm),
# wasmbrowsertest at a pinned version, and a `chromium` wrapper that adds the flags a
# closed, root-run sandbox wants (wasmbrowsertest takes no flags of its own).
deps: $(BIN)/wasmbrowsertest $(BIN)/chromium $(BIN)/wat2wasm

APT_INSTALL = if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq

$(BIN)/wat2wasm:
	@command -v /usr/bin/wat2wasm >/dev/null || { echo "installing Debian's wabt"; $(APT_INSTALL) wabt; }
	mkdir -p $(BIN)
	ln -sf /usr/bin/wat2wasm $@

$(BIN)/wasmbrowsertest:
	mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install github.com/agnivade/wasmbrowsertest@$(WASMBROWSERTEST_VERSION)

# --enable-unsafe-webgpu: a WebGPU adapter on the CPU (SwiftShader) for web/webgpu's tests.
$(BIN)/chromium: Makefile
	@command -v /usr/bin/chromium >/dev/null || { echo "installing Debian's chromium"; $(APT_INSTALL) chromium; }
	mkdir -p $(BIN)
	printf '#!/bin/sh\nexec /usr/bin/chromium --disable-gpu --enable-unsafe-webgpu --disable-quic --disable-component-update --disable-background-networking --disable-sync --no-first-run "$$@"\n' > $@
	chmod +x $@

vet:
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./model/... ./web/... ./wasm

test-native: deps
	PATH="$(BIN):$$PATH" $(GO) test $$($(GO) list ./... | grep -v /web/e2e)

# In Chromium: the web packages against real IndexedDB, and the model's parity tests
# (the file-heavy checkpoint tests stay native: wasmbrowsertest proxies every file call).
WASM_TEST := PATH="$(BIN):$$PATH" GOOS=js GOARCH=wasm $(GO) test -exec wasmbrowsertest
test-wasm: deps static/kernels.wasm
	$(WASM_TEST) ./web/... ./model/kernels/... ./model/ops ./model/tokenize ./model/imageproc ./model/safetensors ./model/npy 2>&1 | grep -v 'IPAddressSpace'; exit $${PIPESTATUS[0]}
	$(WASM_TEST) ./model/ -run 'TestMatchesHuggingFace|TestImageCache|TestStreams|TestCancel|TestBadQuestions|TestExpectedTensors' 2>&1 | grep -v 'IPAddressSpace'; exit $${PIPESTATUS[0]}
	$(WASM_TEST) ./model/convert -run 'TestF32FolderEqualsCheckpoint|TestInt8AgainstFloat32OnFixtures' 2>&1 | grep -v 'IPAddressSpace'; exit $${PIPESTATUS[0]}

# The real page in headless Chromium. GITVQA_E2E_MODEL (a Hugging Face folder) and
# GITVQA_E2E_CASES (a cases/ folder) choose what it runs; testdata by default.
# GITVQA_E2E_BACKEND=webgpu runs it with the GPU forced (SwiftShader here).
test-e2e e2e: deps
	PATH="$(BIN):$$PATH" CHROMIUM=/usr/bin/chromium $(GO) test -count=1 -v -timeout 20m ./web/e2e/ 2>&1 | grep -E '^(\s*--- |e2e:|ok|FAIL|PASS)|e2e_test.go'; exit $${PIPESTATUS[0]}

# The e2e core (first load, every fixture case, second question, bad input, offline
# reload) in Firefox ESR over WebDriver BiDi and in WebKitGTK's MiniBrowser over
# WebKitWebDriver (under Xvfb: it has no headless mode); Debian's packages.
browser-deps:
	@command -v firefox-esr >/dev/null && command -v WebKitWebDriver >/dev/null && command -v xvfb-run >/dev/null || \
	  { echo "installing Debian's firefox-esr, webkit2gtk-driver and xvfb"; $(APT_INSTALL) firefox-esr webkit2gtk-driver xvfb; }

test-browsers: deps browser-deps
	PATH="$(BIN):$$PATH" GITVQA_ENGINES=firefox,webkit $(GO) test -count=1 -v -timeout 20m -run 'TestFirefox|TestWebKit' ./web/e2e/ 2>&1 | grep -E '^(\s*--- |e2e:|ok|FAIL|PASS)|_test.go'; exit $${PIPESTATUS[0]}

# Refreshes the README's screenshot of the demo page answering a question.
screenshot: deps
	PATH="$(BIN):$$PATH" GITVQA_SCREENSHOT=$(CURDIR)/web/e2e/screenshot.png CHROMIUM=/usr/bin/chromium $(GO) test -count=1 -run 'TestPage' ./web/e2e/

# model/ must build for the browser.
test-wasm-build:
	GOOS=js GOARCH=wasm $(GO) build ./model/...

# One question through the full-size architecture (random weights), natively.
bench-native:
	$(GO) test -run XXX -bench FullSize -benchtime 1x ./model/

# The matrix kernels against Gorgonia's own float32 matmul on the real layer shapes,
# natively and under wasm (Node.js runs the test binary).
bench-kernels:
	$(GO) test -run XXX -bench MatMul -benchtime 3x ./model/ops/

bench-kernels-wasm:
	GOOS=js GOARCH=wasm $(GO) test -exec "$(WASM_EXEC)" -run XXX -bench 'MatMul/(gorgonia|linear)' -benchtime 3x ./model/ops/

# The hot kernels of static/kernels-relaxed.wasm against another build's, alternating in
# one headless Chromium page, best of 25 each: GITVQA_KERNELS_B=DIR/kernels-relaxed.wasm
# after go run ./tools/kernels -out DIR at the other commit (without it, static's alone).
bench-kernels-ab: deps site
	$(WASM_TEST) -run XXX -bench KernelsAB -benchtime 1x ./model/kernels/simd/ | tr '\t' '\n' | grep -v '^ *$$'

# int8 against float32 on the full-size architecture (random weights, 3 pictures): ~10 min.
test-large:
	GITVQA_LARGE=1 $(GO) test -timeout 60m -run FullSize -v ./model/convert/

# ---- the site ---------------------------------------------------------------------------

SITE_GO := $(shell find model web wasm -name '*.go' -not -name '*_test.go' 2>/dev/null) go.mod go.sum

# Built against tools/slimwasm's edited Gorgonia (less its protobuf serialization and
# text/template, which kept every exported method alive: 38.5 → 21 MB).
static/gitvqa.wasm: $(SITE_GO) tools/slimwasm/main.go
	$(GO) run ./tools/slimwasm -out .cache/slim
	GOOS=js GOARCH=wasm $(GO) build -modfile .cache/slim/go.mod -trimpath -ldflags="-s -w" -o $@ ./wasm

static/wasm_exec.js:
	cp "$$($(GO) env GOROOT)/lib/wasm/wasm_exec.js" $@

static/kernels.wasm static/kernels-relaxed.wasm: model/kernels/simd/kernels.wat model/kernels/simd/wat.go | $(BIN)/wat2wasm
	PATH="$(BIN):$$PATH" $(GO) run ./tools/kernels -out static

# What a static host should send precompressed (README, Hosting).
static/gitvqa.wasm.br: static/gitvqa.wasm tools/precompress/main.go
	$(GO) run ./tools/precompress static/gitvqa.wasm

site: static/gitvqa.wasm static/gitvqa.wasm.br static/wasm_exec.js static/kernels.wasm

# ---- the npm package -------------------------------------------------------------------

PACKAGE_VERSION = $(shell sed -n 's/^  "version": "\(.*\)",$$/\1/p' web/npm/package.json)
PACKAGE_FILES := vqa.js vqa.d.ts protocol.js protocol.d.ts worker.js wasm_exec.js gitvqa.wasm kernels.wasm kernels-relaxed.wasm
NPM := npm --no-audit --no-fund --loglevel=error

# dist/gitvqa-<version>.tgz: the ES module, its types, the worker and the wasm (npm pack).
package: site
	@command -v npm >/dev/null || { echo "installing Debian's npm"; $(APT_INSTALL) npm; }
	rm -rf .cache/package dist/gitvqa-*.tgz && mkdir -p .cache/package dist
	cp $(addprefix static/,$(PACKAGE_FILES)) web/npm/package.json web/npm/README.md .cache/package/
	cd .cache/package && $(NPM) pack --pack-destination $(CURDIR)/dist >/dev/null
	@ls -l dist/gitvqa-$(PACKAGE_VERSION).tgz

# The tarball installed into a scratch TypeScript app (web/npm/app, pinned Vite and
# TypeScript from npm), type-checked by tsc, bundled by Vite with the assets copied as
# the package's README says, and run in headless Chromium on every fixture case.
test-package: package deps
	rm -rf .cache/pkgtest && mkdir -p .cache/pkgtest && cp -r web/npm/app .cache/pkgtest/app
	cd .cache/pkgtest/app && $(NPM) install && $(NPM) install $(CURDIR)/dist/gitvqa-$(PACKAGE_VERSION).tgz
	cd .cache/pkgtest/app && npx tsc -p . && echo "tsc: the consumer type-checks"
	cd .cache/pkgtest/app && mkdir -p public/gitvqa && \
	  cp $(addprefix node_modules/gitvqa/,worker.js wasm_exec.js gitvqa.wasm kernels.wasm kernels-relaxed.wasm) public/gitvqa/ && \
	  npx vite build
	PATH="$(BIN):$$PATH" GITVQA_PACKAGE_APP=$(CURDIR)/.cache/pkgtest/app/dist CHROMIUM=/usr/bin/chromium \
	  $(GO) test -count=1 -v -run TestBundledPackage ./web/e2e/ 2>&1 | grep -E '^(\s*--- |e2e:|ok|FAIL|PASS)|_test.go'; exit $${PIPESTATUS[0]}

# A tiny test model with seeded random weights, made here: the demo works offline.
static/models/tiny-random/manifest.json:
	$(GO) run ./tools/convert -random testdata/tiny/config.json -vocab testdata/tiny/vocab.txt -seed 1 -out static/models/tiny-random -q

# Serves the demo with the tiny test model at http://127.0.0.1:8080/
demo: site static/models/tiny-random/manifest.json
	$(GO) run ./tools/modelindex -default models/tiny-random/ static/models
	$(GO) run ./tools/serve -dir static

# Serves the demo with the real model (make model first).
serve: site
	@test -f $(MODEL_DIR)/manifest.json || { echo "no $(MODEL_DIR): run make model first"; exit 1; }
	$(GO) run ./tools/modelindex -default models/$(notdir $(MODEL))/ static/models
	$(GO) run ./tools/serve -dir static

# The full-size architecture (random int8 weights) in headless Chromium through the real
# page and worker, with one and with all workers: one table (~5 min).
bench: deps site
	GITVQA_BENCH_WORKERS=1,$$(nproc) CHROMIUM=/usr/bin/chromium $(GO) test -run XXX -bench Browser -benchtime 1x -timeout 60m ./web/e2e/ | grep -v '^e2e:'
	@# The WebGPU row: one of the encoder's products on the shaders (SwiftShader here: correctness only).
	$(WASM_TEST) -run XXX -bench WebGPU -benchtime 1x ./web/webgpu/ 2>&1 | grep -E '^WebGPU|no WebGPU'

# The same beside ONNX Runtime Web on the same encoder, in the same browser and run
# (../shared/bench/ortbench; needs the npm registry and Debian's python3-onnx).
ORTBENCH ?= ../shared/bench/ortbench
# make bench-peer ROUNDS=3: both measured three times, a row of ratios each (the host drifts).
ROUNDS ?= 1
bench-peer: deps site
	$(GO) run ./tools/benchpeer -ortbench $(ORTBENCH) -work .cache/ortbench -rounds $(ROUNDS)

# The real checkpoint: download microsoft/git-large-vqav2 from the Hugging Face hub
# (resumable, verified) and convert it to int8 chunks for the browser.
model:
	$(GO) run ./tools/fetch -repo $(MODEL) -out $(HF_CACHE)
	$(GO) run ./tools/convert -in $(HF_CACHE) -out $(MODEL_DIR)
	$(GO) run ./tools/modelindex static/models

# The real checkpoint against the reference Hugging Face's conversion script asserts
# for it (needs the internet; README, "The real checkpoint, one command"): float32 and
# int8, natively and through the page in Chromium.
verify-real: deps site
	PATH="$(BIN):$$PATH" $(GO) run ./tools/verifyreal -model $(MODEL) -site static

# verify-real against a local fake hub serving the tiny reference checkpoint.
test-verify-real: deps site
	PATH="$(BIN):$$PATH" GITVQA_SITE=$(CURDIR)/static CHROMIUM=/usr/bin/chromium $(GO) test -count=1 -v -run 'TestAgainstFakeHub|TestWrongReferenceFails' ./tools/verifyreal/ 2>&1 | grep -E '^(\s*--- |ok|FAIL|PASS)|_test.go|verify-real|logits|answer'; exit $${PIPESTATUS[0]}

# A minute of each fuzz target, then how many inputs each ran. Minimizing a new input
# may take at most 5 s (Go's default of 60 s could eat the whole minute).
FUZZ_TARGETS := ./model/tokenize:FuzzTokenize ./model/imageproc:FuzzPreprocess ./model/safetensors:FuzzReader \
	./model/modelfile:FuzzParse ./model/torchbin:FuzzOpen
fuzz:
	@mkdir -p .cache; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; \
	  $(GO) test $$pkg -run XXX -fuzz "^$$name\$$" -fuzztime 60s -fuzzminimizetime 5s > .cache/fuzz.log 2>&1; rc=$$?; \
	  tail -3 .cache/fuzz.log; \
	  echo "fuzz $$name: $$(grep -o 'execs: [0-9]*' .cache/fuzz.log | tail -1 | cut -d' ' -f2) executions"; \
	  [ $$rc = 0 ] || exit $$rc; \
	done

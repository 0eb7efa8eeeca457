package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gitvqa/model/fixture"
)

// fakeHub serves the tiny reference checkpoint as microsoft/git-large-vqav2 (no file
// listing: sizes come from the headers) and one fixture picture as COCO's.
func fakeHub(t *testing.T, picture string) *httptest.Server {
	const repo = "/microsoft/git-large-vqav2/resolve/main/"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, repo):
			name := strings.TrimPrefix(r.URL.Path, repo)
			if strings.Contains(name, "/") {
				http.NotFound(w, r)
				return
			}
			http.ServeFile(w, r, filepath.Join(fixture.TinyDir(), name))
		case r.URL.Path == "/val2017/000000039769.jpg":
			http.ServeFile(w, r, picture)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The caption case's input ids are [[101]], as the conversion script's check: its
// reference logits stand in for the real checkpoint's.
func captionCase(t *testing.T) fixture.Case {
	for _, c := range fixture.TinyCases(t) {
		if c.Question == "" {
			return c
		}
	}
	t.Fatal("no caption case in the fixtures")
	return fixture.Case{}
}

func TestAgainstFakeHub(t *testing.T) {
	c := captionCase(t)
	logits, err := c.Array("logits_last.npy")
	if err != nil {
		t.Fatal(err)
	}
	srv := fakeHub(t, c.Path(c.Image))
	expect := fmt.Sprintf("%g,%g,%g", logits.Float32[0], logits.Float32[1], logits.Float32[2])
	args := []string{"-hub", srv.URL, "-picture", srv.URL + "/val2017/000000039769.jpg", "-work", t.TempDir(),
		"-expect", expect, "-prompt", "", "-max-tokens", fmt.Sprint(c.MaxTokens)}
	if site := os.Getenv("GITVQA_SITE"); site != "" {
		args = append(args, "-site", site) // make test-verify-real: through the page too
	}
	var out bytes.Buffer
	err = run(context.Background(), args, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"float32, Go's JPEG decoder:", "int8, Go's JPEG decoder:",
		fmt.Sprintf("answer (float32, native): \"\" → %q", c.Answer),
		"verify-real: PASS",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output lacks %q", want)
		}
	}
	if chromium, _ := os.LookupEnv("CHROMIUM"); chromium != "" || os.Getenv("GITVQA_SITE") != "" {
		// A PNG decodes to the same pixels in Go and in Chromium: both checks pass.
		if !strings.Contains(out.String(), "float32, Chromium's decoder:") || !strings.Contains(out.String(), "between the decoders 0 of 255") {
			t.Errorf("no check on Chromium's decoding")
		}
	}
	// The page runs int8 weights with 7-bit activations (relaxed SIMD): its answer to
	// the random model parts from float32's at a near-tie, so only its presence and its
	// first token (the first step's argmax) are checked.
	if os.Getenv("GITVQA_SITE") != "" {
		first := strings.Fields(c.Answer)[0]
		if !strings.Contains(out.String(), "int8, the page in Chromium:") || !strings.Contains(out.String(), "answer (int8, the page in Chromium): \"\" → \""+first) {
			t.Errorf("the page did not answer as the reference starts (%q)", first)
		}
	}
}

// Logits away from the reference fail the run, naming the check.
func TestWrongReferenceFails(t *testing.T) {
	c := captionCase(t)
	srv := fakeHub(t, c.Path(c.Image))
	var out bytes.Buffer
	err := run(context.Background(), []string{"-hub", srv.URL, "-picture", srv.URL + "/val2017/000000039769.jpg", "-work", t.TempDir(),
		"-expect", "-0.7042,-0.7043,-0.7043", "-chromium", "none", "-max-tokens", "2"}, &out)
	if err == nil || !strings.Contains(out.String(), ": FAIL") {
		t.Fatalf("err %v, output:\n%s", err, out.String())
	}
}

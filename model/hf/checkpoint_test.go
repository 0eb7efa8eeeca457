package hf

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"gitvqa/model"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gitvqa/model/fixture"
	"gitvqa/model/safetensors"
	"gitvqa/model/torchbin"
)

// copyTiny copies the tiny checkpoint's small files into a new folder.
func copyTiny(t *testing.T, skip ...string) string {
	t.Helper()
	dir := t.TempDir()
	src := fixture.TinyDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
outer:
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		for _, s := range skip {
			if e.Name() == s {
				continue outer
			}
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tinyTensors returns the tiny checkpoint's tensors, for rewriting.
func tinyTensors(t *testing.T) []safetensors.Tensor {
	t.Helper()
	f, err := safetensors.Open(filepath.Join(fixture.TinyDir(), "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []safetensors.Tensor
	for _, n := range f.Names() {
		info, _ := f.Info(n)
		raw, err := f.Raw(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, safetensors.Tensor{Name: n, DType: info.DType, Shape: info.Shape, Data: raw})
	}
	return out
}

func writeSafetensors(t *testing.T, dir string, ts []safetensors.Tensor) {
	t.Helper()
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func editJSON(t *testing.T, path string, edit func(map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, _ = json.Marshal(m)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The pytorch_model.bin path gives the same answers as model.safetensors.
func TestPytorchBinCheckpoint(t *testing.T) {
	dir := copyTiny(t, "model.safetensors")
	st, err := safetensors.Open(filepath.Join(fixture.TinyDir(), "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var ts []torchbin.Tensor
	for _, n := range st.Names() {
		info, _ := st.Info(n)
		if info.DType == "I64" {
			raw, _ := st.Raw(n)
			v := make([]int64, len(raw)/8)
			for i := range v {
				v[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
			ts = append(ts, torchbin.Tensor{Name: n, Shape: info.Shape, I64: v})
			continue
		}
		v, err := st.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, torchbin.Tensor{Name: n, Shape: info.Shape, F32: v})
	}
	st.Close()
	f, err := os.Create(filepath.Join(dir, "pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := torchbin.Write(f, ts); err != nil {
		t.Fatal(err)
	}
	f.Close()
	m, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := m.NewSession(nil)
	for _, c := range fixture.TinyCases(t)[:2] {
		px, err := c.Pixels(&m.Preprocess)
		if err != nil {
			t.Fatal(err)
		}
		ans, err := s.Ask(context.Background(), px, c.Question, model.Options{MaxTokens: c.MaxTokens})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ans.GeneratedIDs, c.GeneratedIDs) || ans.Text != c.Answer {
			t.Fatalf("%s: %v %q", c.Name, ans.GeneratedIDs, ans.Text)
		}
	}
}

func TestBadCheckpointsGiveClearErrors(t *testing.T) {
	type mutation struct {
		name string
		edit func(t *testing.T, dir string)
		want string // a phrase the error must contain
	}
	dropTensor := func(name string) func(*testing.T, string) {
		return func(t *testing.T, dir string) {
			var keep []safetensors.Tensor
			for _, x := range tinyTensors(t) {
				if x.Name != name {
					keep = append(keep, x)
				}
			}
			writeSafetensors(t, dir, keep)
		}
	}
	config := func(edit func(map[string]any)) func(*testing.T, string) {
		return func(t *testing.T, dir string) { editJSON(t, filepath.Join(dir, "config.json"), edit) }
	}
	for _, m := range []mutation{
		{"missing tensor", dropTensor("git.encoder.layer.1.output.dense.weight"), `no tensor "git.encoder.layer.1.output.dense.weight"`},
		{"wrong shape", func(t *testing.T, dir string) {
			ts := tinyTensors(t)
			for i := range ts {
				if ts[i].Name == "git.encoder.layer.0.attention.self.query.weight" {
					ts[i].Shape = []int{32, 128}
				}
			}
			writeSafetensors(t, dir, ts)
		}, "has shape [32 128], the config needs [64 64]"},
		{"truncated weights", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model.safetensors")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/2], 0o644)
		}, "truncated"},
		{"no weights", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "model.safetensors")) }, "neither model.safetensors nor pytorch_model.bin"},
		{"no vocab", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "vocab.txt")) }, "vocab.txt"},
		{"no config and no manifest", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "config.json")) }, "neither a model folder (it has no manifest.json) nor a Hugging Face folder"},
		{"unknown activation", config(func(c map[string]any) { c["hidden_act"] = "swish" }), `hidden_act "swish" is not supported`},
		{"unknown position embedding", config(func(c map[string]any) { c["position_embedding_type"] = "relative_key" }), "position_embedding_type"},
		{"video GIT", config(func(c map[string]any) { c["num_image_with_embedding"] = 6 }), "num_image_with_embedding"},
		{"not GIT", config(func(c map[string]any) { c["model_type"] = "bert" }), `model_type "bert"`},
		{"heads", config(func(c map[string]any) { c["num_attention_heads"] = 5 }), "not a multiple of num_attention_heads"},
		{"patch", config(func(c map[string]any) { c["vision_config"].(map[string]any)["patch_size"] = 7 }), "not a multiple of patch_size"},
		{"vocab size", config(func(c map[string]any) { c["vocab_size"] = 30000 }), "vocab.txt has 30522 tokens"},
		{"not JSON", func(t *testing.T, dir string) { os.WriteFile(filepath.Join(dir, "config.json"), []byte("{"), 0o644) }, "config.json"},
		{"crop size", func(t *testing.T, dir string) {
			editJSON(t, filepath.Join(dir, "preprocessor_config.json"), func(c map[string]any) {
				c["crop_size"] = map[string]any{"height": 64, "width": 64}
				c["size"] = map[string]any{"shortest_edge": 64}
			})
		}, "vision model takes 32×32"},
	} {
		t.Run(m.name, func(t *testing.T) {
			dir := copyTiny(t)
			m.edit(t, dir)
			_, err := LoadDir(dir)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if !strings.Contains(err.Error(), m.want) {
				t.Fatalf("error %q does not say %q", err, m.want)
			}
		})
	}
}

// Tensors the model does not read are listed, not fatal; position_ids are expected.
func TestUnusedTensorsReported(t *testing.T) {
	m, err := LoadDir(fixture.TinyDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Weights.Unused) != 0 {
		t.Fatalf("the tiny checkpoint has unused tensors %v", m.Weights.Unused)
	}
	dir := copyTiny(t)
	ts := append(tinyTensors(t), safetensors.F32("extra.thing", []int{1}, []float32{1}))
	writeSafetensors(t, dir, ts)
	m2, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m2.Weights.Unused, []string{"extra.thing"}) {
		t.Fatalf("unused %v", m2.Weights.Unused)
	}
}

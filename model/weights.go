package model

import (
	"fmt"
	"sort"
	"strings"

	"gitvqa/model/kernels"
)

// Source yields a checkpoint's tensors by their Hugging Face names.
type Source interface {
	// Shape reports a tensor's shape, and whether the checkpoint has it.
	Shape(name string) ([]int, bool)
	// Float32 returns a tensor's values, dequantized if stored quantized.
	Float32(name string) ([]float32, error)
	// Names lists every tensor.
	Names() []string
}

// MatrixSource is a Source that can hand over a weight matrix as it stores it, so int8
// weights stay int8. ok is false when it holds the matrix as plain float32.
type MatrixSource interface {
	Source
	Matrix(name string) (m *kernels.Matrix, ok bool, err error)
}

// Linear is a Linear layer: W is (out, in) as PyTorch stores it.
type Linear struct {
	W kernels.Matrix
	B []float32 // (out); nil without bias
}

// Norm is a LayerNorm's scale and shift.
type Norm struct{ Gamma, Beta []float32 }

// VisionLayer is one pre-LN CLIP encoder layer.
type VisionLayer struct {
	Norm1      Norm
	Q, K, V, O Linear // (Dv, Dv)
	Norm2      Norm
	FC1        Linear // (Iv, Dv)
	FC2        Linear // (Dv, Iv)
}

// DecoderLayer is one post-LN BERT layer of GIT's text decoder.
type DecoderLayer struct {
	Q, K, V, O Linear // (D, D)
	AttnNorm   Norm
	FFNIn      Linear // (I, D)
	FFNOut     Linear // (D, I)
	OutNorm    Norm
}

// Weights holds every parameter, under the shapes in the comments
// (Dv vision hidden, Iv vision MLP, N image tokens, p patch, D text hidden,
// I text FFN, V vocabulary, P positions).
type Weights struct {
	PatchEmbed kernels.Matrix // (Dv, 3·p·p): the stride-p convolution, flattened
	ClassEmbed []float32      // (Dv)
	VisionPos  []float32      // (N, Dv)
	PreNorm    Norm           // pre_layrnorm (sic)
	Vision     []VisionLayer
	PostNorm   Norm
	Proj       Linear         // (D, Dv)
	ProjNorm   Norm           // eps of the vision config
	WordEmbed  kernels.Matrix // (V, D)
	TextPos    []float32      // (P, D)
	EmbedNorm  Norm
	Decoder    []DecoderLayer
	Head       Linear   // (V, D)
	Unused     []string // tensors in the checkpoint that the model does not read
}

// readWeights is the one table of a checkpoint's tensors: every Hugging Face name, its
// shape, and where it goes. LoadWeights runs it over a checkpoint; ExpectedTensors
// runs it dry.
func readWeights(c *Config, l *loader) *Weights {
	w := &Weights{}
	v := c.Vision
	dv, iv, p, n := v.HiddenSize, v.IntermediateSize, v.PatchSize, c.NumImageTokens()
	d, inter, vocab := c.HiddenSize, c.IntermediateSize, c.VocabSize

	vp := "git.image_encoder.vision_model."
	w.PatchEmbed = l.matrix(vp+"embeddings.patch_embedding.weight", dv, 3*p*p, dv, 3, p, p)
	w.ClassEmbed = l.f32(vp+"embeddings.class_embedding", dv)
	w.VisionPos = l.f32(vp+"embeddings.position_embedding.weight", n, dv)
	w.PreNorm = l.norm(vp+"pre_layrnorm", dv)
	w.Vision = make([]VisionLayer, v.NumHiddenLayers)
	for i := range w.Vision {
		lp := fmt.Sprintf("%sencoder.layers.%d.", vp, i)
		w.Vision[i] = VisionLayer{
			Norm1: l.norm(lp+"layer_norm1", dv),
			Q:     l.linear(lp+"self_attn.q_proj", dv, dv),
			K:     l.linear(lp+"self_attn.k_proj", dv, dv),
			V:     l.linear(lp+"self_attn.v_proj", dv, dv),
			O:     l.linear(lp+"self_attn.out_proj", dv, dv),
			Norm2: l.norm(lp+"layer_norm2", dv),
			FC1:   l.linear(lp+"mlp.fc1", iv, dv),
			FC2:   l.linear(lp+"mlp.fc2", dv, iv),
		}
	}
	w.PostNorm = l.norm(vp+"post_layernorm", dv)

	w.Proj = l.linear("git.visual_projection.visual_projection.0", d, dv)
	w.ProjNorm = l.norm("git.visual_projection.visual_projection.1", d)

	tp := "git."
	w.WordEmbed = l.matrix(tp+"embeddings.word_embeddings.weight", vocab, d)
	w.TextPos = l.f32(tp+"embeddings.position_embeddings.weight", c.MaxPositionEmbeddings, d)
	w.EmbedNorm = l.norm(tp+"embeddings.LayerNorm", d)
	w.Decoder = make([]DecoderLayer, c.NumHiddenLayers)
	for i := range w.Decoder {
		lp := fmt.Sprintf("%sencoder.layer.%d.", tp, i)
		w.Decoder[i] = DecoderLayer{
			Q:        l.linear(lp+"attention.self.query", d, d),
			K:        l.linear(lp+"attention.self.key", d, d),
			V:        l.linear(lp+"attention.self.value", d, d),
			O:        l.linear(lp+"attention.output.dense", d, d),
			AttnNorm: l.norm(lp+"attention.output.LayerNorm", d),
			FFNIn:    l.linear(lp+"intermediate.dense", inter, d),
			FFNOut:   l.linear(lp+"output.dense", d, inter),
			OutNorm:  l.norm(lp+"output.LayerNorm", d),
		}
	}
	if c.TieWordEmbeddings && !l.has("output.weight") {
		w.Head = Linear{W: w.WordEmbed, B: l.f32("output.bias", vocab)} // a tied head reads the word embeddings
	} else {
		w.Head = l.linear("output", vocab, d)
	}
	return w
}

// LoadWeights reads every parameter c describes from src, checking shapes.
func LoadWeights(c *Config, src Source) (*Weights, error) {
	l := &loader{src: src, used: map[string]bool{}}
	w := readWeights(c, l)
	if l.err != nil {
		return nil, l.err
	}
	for _, name := range src.Names() {
		if !l.used[name] && !strings.HasSuffix(name, "position_ids") {
			w.Unused = append(w.Unused, name)
		}
	}
	sort.Strings(w.Unused)
	return w, nil
}

// TensorSpec names one parameter of a GIT checkpoint and its shape.
type TensorSpec struct {
	Name  string
	Shape []int
}

// ExpectedTensors lists every parameter c describes, in the order the model reads
// them (the buffers named position_ids are not parameters and are left out).
func ExpectedTensors(c *Config) []TensorSpec {
	l := &loader{}
	readWeights(c, l)
	return l.specs
}

// loader reads tensors, checking each shape against the config, and keeps the first
// error: after one, every read returns nothing. Without a source it reads nothing and
// only lists what it was asked for.
type loader struct {
	src   Source
	used  map[string]bool
	specs []TensorSpec
	err   error
}

func (l *loader) has(name string) bool {
	if l.src == nil {
		return false
	}
	_, ok := l.src.Shape(name)
	return ok
}

// check records name and says whether to read it: a source has it in this shape.
func (l *loader) check(name string, want ...int) bool {
	l.specs = append(l.specs, TensorSpec{name, want})
	if l.err != nil || l.src == nil {
		return false
	}
	got, ok := l.src.Shape(name)
	switch {
	case !ok:
		l.err = fmt.Errorf("checkpoint has no tensor %q", name)
	case !equalShape(got, want):
		l.err = fmt.Errorf("tensor %q has shape %v, the config needs %v", name, got, want)
	default:
		l.used[name] = true
	}
	return l.err == nil
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (l *loader) f32(name string, shape ...int) []float32 {
	if !l.check(name, shape...) {
		return nil
	}
	return l.values(name, shape)
}

func (l *loader) values(name string, shape []int) []float32 {
	v, err := l.src.Float32(name)
	if err != nil {
		l.err = fmt.Errorf("reading %q: %w", name, err)
		return nil
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	if len(v) != n {
		l.err = fmt.Errorf("tensor %q holds %d values, its shape needs %d", name, len(v), n)
		return nil
	}
	return v
}

// matrix reads a weight stored with shape (rows, rest...) as a rows×cols matrix,
// keeping int8 weights int8 where the source has them so.
func (l *loader) matrix(name string, rows, cols int, shape ...int) kernels.Matrix {
	if len(shape) == 0 {
		shape = []int{rows, cols}
	}
	m := kernels.Matrix{Rows: rows, Cols: cols}
	if !l.check(name, shape...) {
		return m
	}
	if ms, ok := l.src.(MatrixSource); ok {
		q, ok, err := ms.Matrix(name)
		switch {
		case err != nil:
			l.err = fmt.Errorf("reading %q: %w", name, err)
			return m
		case ok && (q.Rows != rows || q.Cols != cols):
			l.err = fmt.Errorf("tensor %q is a %d×%d matrix, the config needs %d×%d", name, q.Rows, q.Cols, rows, cols)
			return m
		case ok:
			return *q
		}
	}
	m.F32 = l.values(name, shape)
	return m
}

func (l *loader) linear(prefix string, out, in int) Linear {
	return Linear{W: l.matrix(prefix+".weight", out, in), B: l.f32(prefix+".bias", out)}
}

func (l *loader) norm(prefix string, d int) Norm {
	return Norm{Gamma: l.f32(prefix+".weight", d), Beta: l.f32(prefix+".bias", d)}
}

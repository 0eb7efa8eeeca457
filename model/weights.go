package model

import (
	"fmt"
	"sort"
	"strings"

	"gitvqa/model/kernel"
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
	Matrix(name string) (m *kernel.Matrix, ok bool, err error)
}

// Linear is a Linear layer: W is (out, in) as PyTorch stores it.
type Linear struct {
	W kernel.Matrix
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
	PatchEmbed kernel.Matrix // (Dv, 3·p·p): the stride-p convolution, flattened
	ClassEmbed []float32     // (Dv)
	VisionPos  []float32     // (N, Dv)
	PreNorm    Norm          // pre_layrnorm (sic)
	Vision     []VisionLayer
	PostNorm   Norm
	Proj       Linear        // (D, Dv)
	ProjNorm   Norm          // eps of the vision config
	WordEmbed  kernel.Matrix // (V, D)
	TextPos    []float32     // (P, D)
	EmbedNorm  Norm
	Decoder    []DecoderLayer
	Head       Linear   // (V, D)
	Unused     []string // tensors in the checkpoint that the model does not read
}

const (
	visionPrefix = "git.image_encoder.vision_model."
	textPrefix   = "git."
)

// loader reads tensors and checks each shape against the config.
type loader struct {
	src  Source
	used map[string]bool
}

func (l *loader) check(name string, want ...int) error {
	got, ok := l.src.Shape(name)
	if !ok {
		return fmt.Errorf("checkpoint has no tensor %q", name)
	}
	if !equalShape(got, want) {
		return fmt.Errorf("tensor %q has shape %v, the config needs %v", name, got, want)
	}
	l.used[name] = true
	return nil
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

func (l *loader) f32(name string, shape ...int) ([]float32, error) {
	if err := l.check(name, shape...); err != nil {
		return nil, err
	}
	v, err := l.src.Float32(name)
	if err != nil {
		return nil, fmt.Errorf("reading %q: %w", name, err)
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	if len(v) != n {
		return nil, fmt.Errorf("tensor %q holds %d values, its shape needs %d", name, len(v), n)
	}
	return v, nil
}

// matrix reads a weight stored with shape (rows, rest...) as a rows×cols matrix,
// keeping int8 weights int8 where the source has them so.
func (l *loader) matrix(name string, rows, cols int, shape ...int) (kernel.Matrix, error) {
	if len(shape) == 0 {
		shape = []int{rows, cols}
	}
	if err := l.check(name, shape...); err != nil {
		return kernel.Matrix{}, err
	}
	if ms, ok := l.src.(MatrixSource); ok {
		m, ok, err := ms.Matrix(name)
		if err != nil {
			return kernel.Matrix{}, fmt.Errorf("reading %q: %w", name, err)
		}
		if ok {
			if m.Rows != rows || m.Cols != cols {
				return kernel.Matrix{}, fmt.Errorf("tensor %q is a %d×%d matrix, the config needs %d×%d", name, m.Rows, m.Cols, rows, cols)
			}
			return *m, nil
		}
	}
	v, err := l.f32(name, shape...)
	if err != nil {
		return kernel.Matrix{}, err
	}
	return kernel.Matrix{Rows: rows, Cols: cols, F32: v}, nil
}

func (l *loader) linear(prefix string, out, in int) (Linear, error) {
	w, err := l.matrix(prefix+".weight", out, in)
	if err != nil {
		return Linear{}, err
	}
	b, err := l.f32(prefix+".bias", out)
	if err != nil {
		return Linear{}, err
	}
	return Linear{W: w, B: b}, nil
}

func (l *loader) norm(prefix string, d int) (Norm, error) {
	g, err := l.f32(prefix+".weight", d)
	if err != nil {
		return Norm{}, err
	}
	b, err := l.f32(prefix+".bias", d)
	if err != nil {
		return Norm{}, err
	}
	return Norm{Gamma: g, Beta: b}, nil
}

// LoadWeights reads every parameter c describes from src, checking shapes.
func LoadWeights(c *Config, src Source) (*Weights, error) {
	l := &loader{src: src, used: map[string]bool{}}
	w := &Weights{}
	v := c.Vision
	dv, iv, p, n := v.HiddenSize, v.IntermediateSize, v.PatchSize, c.NumImageTokens()
	d, inter, vocab := c.HiddenSize, c.IntermediateSize, c.VocabSize
	var err error
	try := func(f func() error) {
		if err == nil {
			err = f()
		}
	}
	vp := visionPrefix
	try(func() (e error) {
		w.PatchEmbed, e = l.matrix(vp+"embeddings.patch_embedding.weight", dv, 3*p*p, dv, 3, p, p)
		return
	})
	try(func() (e error) { w.ClassEmbed, e = l.f32(vp+"embeddings.class_embedding", dv); return })
	try(func() (e error) { w.VisionPos, e = l.f32(vp+"embeddings.position_embedding.weight", n, dv); return })
	try(func() (e error) { w.PreNorm, e = l.norm(vp+"pre_layrnorm", dv); return })
	w.Vision = make([]VisionLayer, v.NumHiddenLayers)
	for i := range w.Vision {
		ly, lp := &w.Vision[i], fmt.Sprintf("%sencoder.layers.%d.", vp, i)
		try(func() (e error) { ly.Norm1, e = l.norm(lp+"layer_norm1", dv); return })
		try(func() (e error) { ly.Q, e = l.linear(lp+"self_attn.q_proj", dv, dv); return })
		try(func() (e error) { ly.K, e = l.linear(lp+"self_attn.k_proj", dv, dv); return })
		try(func() (e error) { ly.V, e = l.linear(lp+"self_attn.v_proj", dv, dv); return })
		try(func() (e error) { ly.O, e = l.linear(lp+"self_attn.out_proj", dv, dv); return })
		try(func() (e error) { ly.Norm2, e = l.norm(lp+"layer_norm2", dv); return })
		try(func() (e error) { ly.FC1, e = l.linear(lp+"mlp.fc1", iv, dv); return })
		try(func() (e error) { ly.FC2, e = l.linear(lp+"mlp.fc2", dv, iv); return })
	}
	try(func() (e error) { w.PostNorm, e = l.norm(vp+"post_layernorm", dv); return })
	try(func() (e error) { w.Proj, e = l.linear("git.visual_projection.visual_projection.0", d, dv); return })
	try(func() (e error) { w.ProjNorm, e = l.norm("git.visual_projection.visual_projection.1", d); return })
	tp := textPrefix
	try(func() (e error) { w.WordEmbed, e = l.matrix(tp+"embeddings.word_embeddings.weight", vocab, d); return })
	try(func() (e error) {
		w.TextPos, e = l.f32(tp+"embeddings.position_embeddings.weight", c.MaxPositionEmbeddings, d)
		return
	})
	try(func() (e error) { w.EmbedNorm, e = l.norm(tp+"embeddings.LayerNorm", d); return })
	w.Decoder = make([]DecoderLayer, c.NumHiddenLayers)
	for i := range w.Decoder {
		ly, lp := &w.Decoder[i], fmt.Sprintf("%sencoder.layer.%d.", tp, i)
		try(func() (e error) { ly.Q, e = l.linear(lp+"attention.self.query", d, d); return })
		try(func() (e error) { ly.K, e = l.linear(lp+"attention.self.key", d, d); return })
		try(func() (e error) { ly.V, e = l.linear(lp+"attention.self.value", d, d); return })
		try(func() (e error) { ly.O, e = l.linear(lp+"attention.output.dense", d, d); return })
		try(func() (e error) { ly.AttnNorm, e = l.norm(lp+"attention.output.LayerNorm", d); return })
		try(func() (e error) { ly.FFNIn, e = l.linear(lp+"intermediate.dense", inter, d); return })
		try(func() (e error) { ly.FFNOut, e = l.linear(lp+"output.dense", d, inter); return })
		try(func() (e error) { ly.OutNorm, e = l.norm(lp+"output.LayerNorm", d); return })
	}
	try(func() error {
		if _, ok := src.Shape("output.weight"); !ok && c.TieWordEmbeddings {
			// A tied head reads the word embeddings.
			b, e := l.f32("output.bias", vocab)
			w.Head = Linear{W: w.WordEmbed, B: b}
			return e
		}
		var e error
		w.Head, e = l.linear("output", vocab, d)
		return e
	})
	if err != nil {
		return nil, err
	}
	for _, name := range src.Names() {
		if !l.used[name] && !strings.HasSuffix(name, "position_ids") {
			w.Unused = append(w.Unused, name)
		}
	}
	sort.Strings(w.Unused)
	return w, nil
}

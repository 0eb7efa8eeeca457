package model

import "fmt"

// TensorSpec names one parameter of a GIT checkpoint and its shape.
type TensorSpec struct {
	Name  string
	Shape []int
}

// ExpectedTensors lists every parameter c describes, in the order the model reads
// them (the buffers named position_ids are not parameters and are left out).
func ExpectedTensors(c *Config) []TensorSpec {
	var out []TensorSpec
	add := func(name string, shape ...int) { out = append(out, TensorSpec{name, shape}) }
	linear := func(prefix string, o, i int) {
		add(prefix+".weight", o, i)
		add(prefix+".bias", o)
	}
	norm := func(prefix string, d int) {
		add(prefix+".weight", d)
		add(prefix+".bias", d)
	}
	v := c.Vision
	dv, iv, p := v.HiddenSize, v.IntermediateSize, v.PatchSize
	d, inter := c.HiddenSize, c.IntermediateSize
	vp := visionPrefix
	add(vp+"embeddings.patch_embedding.weight", dv, 3, p, p)
	add(vp+"embeddings.class_embedding", dv)
	add(vp+"embeddings.position_embedding.weight", c.NumImageTokens(), dv)
	norm(vp+"pre_layrnorm", dv)
	for i := 0; i < v.NumHiddenLayers; i++ {
		lp := fmt.Sprintf("%sencoder.layers.%d.", vp, i)
		norm(lp+"layer_norm1", dv)
		for _, n := range []string{"q_proj", "k_proj", "v_proj", "out_proj"} {
			linear(lp+"self_attn."+n, dv, dv)
		}
		norm(lp+"layer_norm2", dv)
		linear(lp+"mlp.fc1", iv, dv)
		linear(lp+"mlp.fc2", dv, iv)
	}
	norm(vp+"post_layernorm", dv)
	linear("git.visual_projection.visual_projection.0", d, dv)
	norm("git.visual_projection.visual_projection.1", d)
	add(textPrefix+"embeddings.word_embeddings.weight", c.VocabSize, d)
	add(textPrefix+"embeddings.position_embeddings.weight", c.MaxPositionEmbeddings, d)
	norm(textPrefix+"embeddings.LayerNorm", d)
	for i := 0; i < c.NumHiddenLayers; i++ {
		lp := fmt.Sprintf("%sencoder.layer.%d.", textPrefix, i)
		for _, n := range []string{"self.query", "self.key", "self.value", "output.dense"} {
			linear(lp+"attention."+n, d, d)
		}
		norm(lp+"attention.output.LayerNorm", d)
		linear(lp+"intermediate.dense", inter, d)
		linear(lp+"output.dense", d, inter)
		norm(lp+"output.LayerNorm", d)
	}
	linear("output", c.VocabSize, d)
	return out
}

// LargeVQAv2Config is the architecture of microsoft/git-large-vqav2: CLIP ViT-L/14 at
// 420×420 and a 6-layer, 768-wide text decoder.
func LargeVQAv2Config() Config {
	c := DefaultConfig()
	c.Vision.HiddenSize = 1024
	c.Vision.IntermediateSize = 4096
	c.Vision.NumHiddenLayers = 24
	c.Vision.NumAttentionHeads = 16
	c.Vision.ImageSize = 420
	c.Vision.PatchSize = 14
	return c
}

// FLOPs counts the multiply-adds (×2) of each stage, for throughput figures.
type FLOPs struct {
	Encoder      float64 // patch embedding, vision layers, projection
	ImagePrefill float64 // decoder over the image tokens
}

// CountFLOPs counts the matrix work of c's stages.
func CountFLOPs(c *Config) FLOPs {
	v := c.Vision
	n := float64(c.NumImageTokens())
	dv, iv, d, in := float64(v.HiddenSize), float64(v.IntermediateSize), float64(c.HiddenSize), float64(c.IntermediateSize)
	patch := float64(3 * v.PatchSize * v.PatchSize)
	enc := 2 * (n - 1) * patch * dv
	enc += float64(v.NumHiddenLayers) * 2 * (4*n*dv*dv + 2*n*dv*iv + 2*n*n*dv)
	enc += 2 * n * dv * d
	pre := float64(c.NumHiddenLayers) * 2 * (4*n*d*d + 2*n*d*in + 2*n*n*d)
	return FLOPs{Encoder: enc, ImagePrefill: pre}
}

// TokenFLOPs counts the work of one text token attending to ctx earlier positions
// (image tokens included), output head included.
func TokenFLOPs(c *Config, ctx int) float64 {
	d, in := float64(c.HiddenSize), float64(c.IntermediateSize)
	return float64(c.NumHiddenLayers)*2*(4*d*d+2*d*in+2*float64(ctx)*d) + 2*d*float64(c.VocabSize)
}

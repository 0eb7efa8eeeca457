package model

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
	// Attention is the part of Encoder and ImagePrefill in attention's two products
	// (QKᵀ and P·V); the rest is Linear layers.
	EncoderAttention, ImagePrefillAttention float64
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
	return FLOPs{Encoder: enc, ImagePrefill: pre,
		EncoderAttention: float64(v.NumHiddenLayers) * 2 * 2 * n * n * dv, ImagePrefillAttention: float64(c.NumHiddenLayers) * 2 * 2 * n * n * d}
}

// TokenFLOPs counts the work of one text token attending to ctx earlier positions
// (image tokens included), output head included.
func TokenFLOPs(c *Config, ctx int) float64 {
	d, in := float64(c.HiddenSize), float64(c.IntermediateSize)
	return float64(c.NumHiddenLayers)*2*(4*d*d+2*d*in+2*float64(ctx)*d) + 2*d*float64(c.VocabSize)
}

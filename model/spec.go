package model

import (
	"strings"

	"gitvqa/model/imageproc"
)

// LargeVQAv2Config is the architecture of microsoft/git-large-vqav2: CLIP ViT-L/14 at
// 420×420 and a 6-layer, 768-wide text decoder.
func LargeVQAv2Config() Config { return checkpointConfig(true, 420) }

// checkpointConfig is a GIT architecture as convert_git_to_pytorch.py defines it: the
// same decoder for every checkpoint, CLIP ViT-B/16 (base) or ViT-L/14 (large) at
// imageSize pixels.
func checkpointConfig(large bool, imageSize int) Config {
	c := DefaultConfig()
	if large {
		c.Vision.HiddenSize = 1024
		c.Vision.IntermediateSize = 4096
		c.Vision.NumHiddenLayers = 24
		c.Vision.NumAttentionHeads = 16
		c.Vision.PatchSize = 14
	}
	c.Vision.ImageSize = imageSize
	return c
}

// What a checkpoint is fine-tuned for: answering questions, or describing pictures
// (its prompt is empty; a question would only be a prefix of the caption).
const (
	TaskVQA     = "vqa"
	TaskCaption = "caption"
)

// Checkpoint is one of Microsoft's GIT image checkpoints on the Hugging Face hub.
type Checkpoint struct {
	Repo       string
	Task       string // TaskVQA or TaskCaption
	Config     Config
	Preprocess imageproc.Config // the checkpoint's preprocessor_config.json
}

// Checkpoints are the image checkpoints this code runs, as the conversion script builds
// them: base VQA models see 480 px, large VQA models 420 px, the rest 224 px. (The video
// ones, VATEX and MSRVTT, take six frames: not supported.)
func Checkpoints() []Checkpoint {
	var out []Checkpoint
	for _, name := range []string{"git-base", "git-base-coco", "git-base-textcaps", "git-base-vqav2", "git-base-textvqa",
		"git-large", "git-large-coco", "git-large-textcaps", "git-large-vqav2", "git-large-textvqa"} {
		large, task := strings.Contains(name, "large"), TaskOf(name)
		size := 224
		if task == TaskVQA {
			size = map[bool]int{false: 480, true: 420}[large]
		}
		out = append(out, Checkpoint{Repo: "microsoft/" + name, Task: task, Config: checkpointConfig(large, size), Preprocess: imageproc.CLIP(size)})
	}
	return out
}

// TaskOf tells a checkpoint's task from its name (the hub's convention: VQA models say
// so; the configs of the two kinds are alike).
func TaskOf(name string) string {
	if strings.Contains(strings.ToLower(name), "vqa") {
		return TaskVQA
	}
	return TaskCaption
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
	// the image pass: every decoder layer but the last whole, the last its keys and values
	full := float64(c.NumHiddenLayers - 1)
	pre := full*2*(4*n*d*d+2*n*d*in+2*n*n*d) + 2*2*n*d*d
	return FLOPs{Encoder: enc, ImagePrefill: pre,
		EncoderAttention: float64(v.NumHiddenLayers) * 2 * 2 * n * n * dv, ImagePrefillAttention: full * 2 * 2 * n * n * d}
}

// TokenFLOPs counts the work of one text token attending to ctx earlier positions
// (image tokens included), output head included.
func TokenFLOPs(c *Config, ctx int) float64 {
	d, in := float64(c.HiddenSize), float64(c.IntermediateSize)
	return float64(c.NumHiddenLayers)*2*(4*d*d+2*d*in+2*float64(ctx)*d) + 2*d*float64(c.VocabSize)
}

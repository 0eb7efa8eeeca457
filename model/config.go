package model

import (
	"encoding/json"
	"fmt"
)

// Config mirrors a Hugging Face GIT config.json (GitConfig with a nested GitVisionConfig).
// Fields a config leaves out take the defaults of transformers' configuration_git.py.
type Config struct {
	ModelType             string       `json:"model_type"`
	VocabSize             int          `json:"vocab_size"`
	HiddenSize            int          `json:"hidden_size"`
	NumHiddenLayers       int          `json:"num_hidden_layers"`
	NumAttentionHeads     int          `json:"num_attention_heads"`
	IntermediateSize      int          `json:"intermediate_size"`
	HiddenAct             string       `json:"hidden_act"`
	MaxPositionEmbeddings int          `json:"max_position_embeddings"`
	LayerNormEps          float64      `json:"layer_norm_eps"`
	PadTokenID            int          `json:"pad_token_id"`
	BosTokenID            int          `json:"bos_token_id"`
	EosTokenID            int          `json:"eos_token_id"`
	PositionEmbeddingType string       `json:"position_embedding_type"`
	TieWordEmbeddings     bool         `json:"tie_word_embeddings"`
	NumImageWithEmbedding *int         `json:"num_image_with_embedding"`
	Vision                VisionConfig `json:"vision_config"`
}

// VisionConfig mirrors GitVisionConfig (a CLIP ViT).
type VisionConfig struct {
	ModelType         string  `json:"model_type"`
	HiddenSize        int     `json:"hidden_size"`
	IntermediateSize  int     `json:"intermediate_size"`
	NumHiddenLayers   int     `json:"num_hidden_layers"`
	NumAttentionHeads int     `json:"num_attention_heads"`
	NumChannels       int     `json:"num_channels"`
	ImageSize         int     `json:"image_size"`
	PatchSize         int     `json:"patch_size"`
	HiddenAct         string  `json:"hidden_act"`
	LayerNormEps      float64 `json:"layer_norm_eps"`
}

// DefaultConfig holds transformers' GitConfig() defaults.
func DefaultConfig() Config {
	return Config{
		ModelType: "git", VocabSize: 30522, HiddenSize: 768, NumHiddenLayers: 6,
		NumAttentionHeads: 12, IntermediateSize: 3072, HiddenAct: "gelu",
		MaxPositionEmbeddings: 1024, LayerNormEps: 1e-12, PadTokenID: 0,
		BosTokenID: 101, EosTokenID: 102, PositionEmbeddingType: "absolute",
		Vision: VisionConfig{
			ModelType: "git_vision_model", HiddenSize: 768, IntermediateSize: 3072,
			NumHiddenLayers: 12, NumAttentionHeads: 12, NumChannels: 3, ImageSize: 224,
			PatchSize: 16, HiddenAct: "quick_gelu", LayerNormEps: 1e-5,
		},
	}
}

// ParseConfig reads config.json content, fills defaults and validates it.
func ParseConfig(data []byte) (Config, error) {
	c := DefaultConfig()
	if err := json.Unmarshal(data, &c); err != nil {
		return Config{}, fmt.Errorf("config.json: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config.json: %w", err)
	}
	return c, nil
}

// Activations this implementation knows, by their transformers ACT2FN name.
var knownActivations = map[string]bool{"gelu": true, "quick_gelu": true, "gelu_new": true, "gelu_pytorch_tanh": true, "relu": true}

// Validate rejects configs this implementation cannot run exactly.
func (c *Config) Validate() error {
	if c.ModelType != "git" {
		return fmt.Errorf("model_type %q is not \"git\"", c.ModelType)
	}
	if c.PositionEmbeddingType != "absolute" {
		return fmt.Errorf("position_embedding_type %q is not supported (only \"absolute\")", c.PositionEmbeddingType)
	}
	if c.NumImageWithEmbedding != nil {
		return fmt.Errorf("num_image_with_embedding=%d (video GIT) is not supported", *c.NumImageWithEmbedding)
	}
	if !knownActivations[c.HiddenAct] {
		return fmt.Errorf("hidden_act %q is not supported", c.HiddenAct)
	}
	if !knownActivations[c.Vision.HiddenAct] {
		return fmt.Errorf("vision_config.hidden_act %q is not supported", c.Vision.HiddenAct)
	}
	pos := []struct {
		name string
		v    int
	}{
		{"vocab_size", c.VocabSize}, {"hidden_size", c.HiddenSize}, {"num_hidden_layers", c.NumHiddenLayers},
		{"num_attention_heads", c.NumAttentionHeads}, {"intermediate_size", c.IntermediateSize},
		{"max_position_embeddings", c.MaxPositionEmbeddings},
		{"vision_config.hidden_size", c.Vision.HiddenSize}, {"vision_config.intermediate_size", c.Vision.IntermediateSize},
		{"vision_config.num_hidden_layers", c.Vision.NumHiddenLayers}, {"vision_config.num_attention_heads", c.Vision.NumAttentionHeads},
		{"vision_config.num_channels", c.Vision.NumChannels}, {"vision_config.image_size", c.Vision.ImageSize},
		{"vision_config.patch_size", c.Vision.PatchSize},
	}
	for _, p := range pos {
		if p.v <= 0 || p.v > 1<<20 {
			return fmt.Errorf("%s=%d is out of range", p.name, p.v)
		}
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("hidden_size %d is not a multiple of num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	if c.Vision.HiddenSize%c.Vision.NumAttentionHeads != 0 {
		return fmt.Errorf("vision_config.hidden_size %d is not a multiple of num_attention_heads %d", c.Vision.HiddenSize, c.Vision.NumAttentionHeads)
	}
	if c.Vision.ImageSize%c.Vision.PatchSize != 0 {
		return fmt.Errorf("vision_config.image_size %d is not a multiple of patch_size %d", c.Vision.ImageSize, c.Vision.PatchSize)
	}
	if c.Vision.NumChannels != 3 {
		return fmt.Errorf("vision_config.num_channels=%d: only RGB (3) images are supported", c.Vision.NumChannels)
	}
	if !(c.LayerNormEps > 0) || !(c.Vision.LayerNormEps > 0) {
		return fmt.Errorf("layer_norm_eps must be positive")
	}
	for _, id := range []struct {
		name string
		v    int
	}{{"bos_token_id", c.BosTokenID}, {"eos_token_id", c.EosTokenID}, {"pad_token_id", c.PadTokenID}} {
		if id.v < 0 || id.v >= c.VocabSize {
			return fmt.Errorf("%s=%d is outside the vocabulary of %d", id.name, id.v, c.VocabSize)
		}
	}
	return nil
}

// NumImageTokens is the number of image tokens: one per patch plus the class token.
func (c *Config) NumImageTokens() int {
	p := c.Vision.ImageSize / c.Vision.PatchSize
	return p*p + 1
}

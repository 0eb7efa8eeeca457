package model_test

import (
	"context"
	"errors"
	"gitvqa/model"
	"reflect"
	"strings"
	"testing"

	"gitvqa/model/fixture"
	"gitvqa/model/kernels"
)

// A second question about the same picture skips the encoder and the image pass, and
// answers exactly as a fresh session does.
func TestImageCacheSkipsEncoderAndChangesNothing(t *testing.T) {
	m := tiny(t)
	cs := cases(t)
	a, b := &cs[0], &cs[1]
	pa, pb := pixels(t, m, a), pixels(t, m, b)

	// askIn answers on s and keeps the first step's logits.
	askIn := func(s *model.Session, px []float32, q string, max int) (*model.Answer, []float32) {
		var first []float32
		ans, err := s.Ask(context.Background(), px, q, model.Options{MaxTokens: max, OnLogits: func(step int, l []float32) {
			if step == 0 {
				first = append([]float32(nil), l...)
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		return ans, first
	}
	fresh := func(px []float32, q string, max int) (*model.Answer, []float32) {
		s, err := m.NewSession(nil)
		if err != nil {
			t.Fatal(err)
		}
		return askIn(s, px, q, max)
	}
	s, err := m.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	ask := func(px []float32, q string, max int) (*model.Answer, []float32) { return askIn(s, px, q, max) }
	first, _ := ask(pa, a.Question, a.MaxTokens)
	if first.Timings.ImageCached || s.Stats().ImageEncodes != 1 || s.Stats().ImagePrefills != 1 {
		t.Fatalf("first question: cached=%v stats=%+v", first.Timings.ImageCached, s.Stats())
	}
	// Same picture, other questions: one the fixture knows, one it does not.
	again, _ := ask(pa, a.Question, a.MaxTokens)
	other, otherLogits := ask(pa, "is there a dog?", 7)
	if s.Stats().ImageEncodes != 1 || s.Stats().ImagePrefills != 1 {
		t.Fatalf("the same picture was encoded again: %+v", s.Stats())
	}
	if !again.Timings.ImageCached || again.Timings.Encode != 0 || again.Timings.ImagePrefill != 0 {
		t.Fatalf("timings of a cached picture: %+v", again.Timings)
	}
	if !reflect.DeepEqual(again.GeneratedIDs, a.GeneratedIDs) {
		t.Fatalf("cached answer %v, want %v", again.GeneratedIDs, a.GeneratedIDs)
	}
	wantOther, wantLogits := fresh(pa, "is there a dog?", 7)
	if !reflect.DeepEqual(other.GeneratedIDs, wantOther.GeneratedIDs) || !reflect.DeepEqual(otherLogits, wantLogits) {
		t.Fatalf("with the cache: %v; without: %v (logits equal: %v)", other.GeneratedIDs, wantOther.GeneratedIDs, reflect.DeepEqual(otherLogits, wantLogits))
	}
	// A second picture, then the first again: both stay cached (two by default).
	ask(pb, b.Question, b.MaxTokens)
	back, _ := ask(pa, a.Question, a.MaxTokens)
	if !back.Timings.ImageCached || s.Stats().ImageEncodes != 2 {
		t.Fatalf("after two pictures: cached=%v stats=%+v", back.Timings.ImageCached, s.Stats())
	}
	// A third evicts the least recent (b).
	ask(pixels(t, m, &cs[2]), cs[2].Question, 3)
	if s.Stats().ImageEncodes != 3 {
		t.Fatalf("stats %+v", s.Stats())
	}
	res, _ := ask(pb, b.Question, b.MaxTokens)
	if res.Timings.ImageCached || !reflect.DeepEqual(res.GeneratedIDs, b.GeneratedIDs) {
		t.Fatalf("evicted picture: cached=%v ids=%v", res.Timings.ImageCached, res.GeneratedIDs)
	}
}

func TestStreamsTokensAndProgress(t *testing.T) {
	m := tiny(t)
	c := cases(t)[0]
	s, _ := m.NewSession(nil)
	var toks []model.Token
	phases := map[string]int{}
	ans, err := s.Ask(context.Background(), pixels(t, m, &c), c.Question, model.Options{
		OnToken:    func(tk model.Token) { toks = append(toks, tk) },
		OnProgress: func(p model.Progress) { phases[p.Phase]++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != len(c.GeneratedIDs) {
		t.Fatalf("%d tokens streamed, want %d", len(toks), len(c.GeneratedIDs))
	}
	for i, tk := range toks {
		if tk.ID != c.GeneratedIDs[i] {
			t.Fatalf("token %d is %d, want %d", i, tk.ID, c.GeneratedIDs[i])
		}
	}
	if toks[len(toks)-1].Text != ans.Text || toks[len(toks)-1].Piece != "[SEP]" {
		t.Fatalf("last token %+v, answer %q", toks[len(toks)-1], ans.Text)
	}
	if phases["encode"] == 0 || phases["prefill"] == 0 || phases["decode"] != len(toks) {
		t.Fatalf("progress %v", phases)
	}
}

func TestCancelBetweenLayersAndTokens(t *testing.T) {
	m := tiny(t)
	c := cases(t)[0]
	px := pixels(t, m, &c)
	s, _ := m.NewSession(nil)
	for _, at := range []string{"encode", "prefill", "decode"} {
		ctx, cancel := context.WithCancel(context.Background())
		_, err := s.Ask(ctx, px, c.Question, model.Options{OnProgress: func(p model.Progress) {
			if p.Phase == at {
				cancel()
			}
		}})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancel during %s: %v", at, err)
		}
		// The next question works and is right.
		ans, err := s.Ask(context.Background(), px, c.Question, model.Options{})
		if err != nil || !reflect.DeepEqual(ans.GeneratedIDs, c.GeneratedIDs) {
			t.Fatalf("after a cancel during %s: %v %v", at, err, ans)
		}
	}
	if s.Stats().ImageEncodes != 2 {
		// cancelled during encode (not cached) → encoded again; afterwards cached
		t.Fatalf("stats %+v", s.Stats())
	}
}

func TestBadQuestions(t *testing.T) {
	m := tiny(t)
	c := cases(t)[0]
	px := pixels(t, m, &c)
	s, _ := m.NewSession(nil)
	// Empty: captioning, as transformers does with input_ids = [CLS].
	ans, err := s.Ask(context.Background(), px, "", model.Options{MaxTokens: 3})
	if err != nil || !reflect.DeepEqual(ans.InputIDs, []int{101}) {
		t.Fatalf("empty question: %v %+v", err, ans)
	}
	long := strings.Repeat("what colour is it? ", 530) // ≈10,000 characters, ≈2,650 tokens
	if _, err := s.Ask(context.Background(), px, long, model.Options{}); !errors.Is(err, model.ErrQuestionTooLong) {
		t.Fatalf("10,000-character question: %v", err)
	}
	// The longest question that fits still answers, up to the last position.
	fits := strings.Repeat("red ", 1022)
	ans, err = s.Ask(context.Background(), px, fits, model.Options{MaxTokens: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(ans.GeneratedIDs) > 2 {
		t.Fatalf("%d tokens generated past the model's last position", len(ans.GeneratedIDs))
	}
	if _, err := s.Ask(context.Background(), px[:10], "hi", model.Options{}); err == nil {
		t.Fatal("short pixel values accepted")
	}
	if _, err := s.Ask(context.Background(), px, "hi", model.Options{MaxTokens: -1}); err == nil {
		t.Fatal("negative token budget accepted")
	}
}

// A backend may take each stack of layers as one program (a device backend keeps the
// activations in its own buffers that way): the answers and logits are those of one
// program per layer, alone and with the encoder shared.
func TestWholeStacksEqualOneLayerAtATime(t *testing.T) {
	m := tiny(t)
	perLayer, _ := m.NewSession(nil)
	whole, err := m.NewSession(model.WithWholeStacks(model.GoBackend()))
	if err != nil {
		t.Fatal(err)
	}
	sh, err := m.NewVisionShard(1, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	shared, _ := m.NewSession(model.WithWholeStacks(model.GoBackend()))
	if err := shared.SetPeers(&localPeers{shards: []*model.VisionShard{sh}}); err != nil {
		t.Fatal(err)
	}
	// One progress step per program run: embeddings, the layers' programs, projection.
	encodeSteps := func(s *model.Session, c *fixture.Case) int {
		n := 0
		s.Ask(context.Background(), pixels(t, m, c), "steps?", model.Options{MaxTokens: 1, OnProgress: func(p model.Progress) {
			if p.Phase == "encode" {
				n++
			}
		}})
		return n
	}
	c0 := cases(t)[6]
	if layers := m.Config.Vision.NumHiddenLayers; encodeSteps(perLayer, &c0) != layers+2 || encodeSteps(whole, &c0) != 3 {
		t.Fatalf("encode steps: %d one layer at a time, %d whole; %d layers", encodeSteps(perLayer, &c0), encodeSteps(whole, &c0), layers)
	}
	for _, c := range cases(t)[:3] {
		px := pixels(t, m, &c)
		ask := func(s *model.Session) (*model.Answer, []float32) {
			var first []float32
			ans, err := s.Ask(context.Background(), px, c.Question, model.Options{MaxTokens: c.MaxTokens, OnLogits: func(step int, l []float32) {
				if step == 0 {
					first = append([]float32(nil), l...)
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			return ans, first
		}
		want, wantLogits := ask(perLayer)
		for name, s := range map[string]*model.Session{"whole stacks": whole, "whole stacks, shared": shared} {
			got, logits := ask(s)
			if !reflect.DeepEqual(got.GeneratedIDs, want.GeneratedIDs) {
				t.Errorf("%s, %s: %v, want %v", name, c.Name, got.GeneratedIDs, want.GeneratedIDs)
			}
			if d := maxAbsDiff(t, logits, wantLogits); d > 1e-5 {
				t.Errorf("%s, %s: logits %g off", name, c.Name, d)
			}
		}
	}
}

// attentionCounter counts the attention calls over a given number of query rows.
type attentionCounter struct {
	kernels.Go
	rows, calls int
}

func (c *attentionCounter) Attention(out, q, k, v []float32, m, nk, heads, dh int, scale float32, causal int) {
	if m == c.rows {
		c.calls++
	}
	c.Go.Attention(out, q, k, v, m, nk, heads, dh, scale, causal)
}

// The image pass's last decoder layer computes the image rows' keys and values alone:
// its attention (and the rest of the layer) would feed nothing the text reads. Over the
// image's rows attention runs once a vision layer and once a decoder layer but the last,
// and the answer is still exact.
func TestImagePassSkipsTheLastLayersOutputs(t *testing.T) {
	m := tiny(t)
	c := cases(t)[0]
	count := &attentionCounter{rows: m.Config.NumImageTokens()}
	s, err := m.NewSession(model.CPU("counting", count, true))
	if err != nil {
		t.Fatal(err)
	}
	ans, err := s.Ask(context.Background(), pixels(t, m, &c), c.Question, model.Options{MaxTokens: c.MaxTokens})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ans.GeneratedIDs, c.GeneratedIDs) {
		t.Errorf("ids %v, want %v", ans.GeneratedIDs, c.GeneratedIDs)
	}
	if want := len(m.Weights.Vision) + len(m.Weights.Decoder) - 1; count.calls != want {
		t.Errorf("%d attention calls over the image's %d rows, want %d", count.calls, count.rows, want)
	}
}

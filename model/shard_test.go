package model_test

import (
	"context"
	"math"
	"reflect"
	"slices"
	"testing"

	"gitvqa/model"
	"gitvqa/model/fixture"
)

// localPeers computes the other shards in-process, as the browser's workers would.
type localPeers struct {
	shards []*model.VisionShard
	calls  int
	kinds  map[string]int
}

func (p *localPeers) Count() int { return len(p.shards) }

func (p *localPeers) Start(kind string, layer int, x []float32) func([]float32) ([][]float32, error) {
	p.calls++
	if p.kinds == nil {
		p.kinds = map[string]int{}
	}
	p.kinds[kind]++
	in := append([]float32(nil), x...)
	return func([]float32) ([][]float32, error) {
		var parts [][]float32
		for _, s := range p.shards {
			part, err := s.Block(kind, layer, in)
			if err != nil {
				return nil, err
			}
			parts = append(parts, part)
		}
		return parts, nil
	}
}

// sharded is a session sharing its work with count−1 shards computed in-process.
func sharded(t *testing.T, m *model.Model, count int) (*model.Session, *localPeers) {
	t.Helper()
	s, _ := m.NewSession(nil)
	peers := &localPeers{}
	for i := 1; i < count; i++ {
		sh, err := m.NewVisionShard(i, count, nil)
		if err != nil {
			t.Fatal(err)
		}
		peers.shards = append(peers.shards, sh)
	}
	if err := s.SetPeers(peers); err != nil {
		t.Fatal(err)
	}
	return s, peers
}

// Splitting the vision encoder across shards changes nothing but rounding: the
// features stay within 1e-5 of one worker's and the answers are the same.
func TestShardedVisionEncoder(t *testing.T) {
	m := tiny(t)
	cs := cases(t)
	one, _ := m.NewSession(nil)
	for _, count := range []int{2, 3, 4} {
		s, peers := sharded(t, m, count)
		if s.Workers() != count {
			t.Fatalf("%d workers, want %d", s.Workers(), count)
		}
		for _, c := range cs[:3] {
			px := pixels(t, m, &c)
			a, _, err := one.Image(context.Background(), px, model.Options{})
			if err != nil {
				t.Fatal(err)
			}
			b, _, err := s.Image(context.Background(), px, model.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var worst float64
			for i := range a.Projected {
				worst = math.Max(worst, math.Abs(float64(a.Projected[i]-b.Projected[i])))
			}
			if worst > 1e-5 {
				t.Errorf("%d shards, %s: features differ by %g", count, c.Name, worst)
			}
			ans, err := s.Ask(context.Background(), px, c.Question, model.Options{MaxTokens: c.MaxTokens})
			if err != nil || !reflect.DeepEqual(ans.GeneratedIDs, c.GeneratedIDs) {
				t.Errorf("%d shards, %s: %v %v", count, c.Name, err, ans)
			}
		}
		if peers.calls == 0 {
			t.Fatal("the peers were never asked")
		}
	}
	if _, err := m.NewVisionShard(4, 4, nil); err == nil {
		t.Fatal("shard 4 of 4 accepted")
	}
	if _, err := m.NewVisionShard(0, 5, nil); err == nil {
		t.Fatal("5 shards of 4 heads accepted")
	}
}

// chainPeers is the one other shard of two, run as the browser's shard worker runs it
// when the blocks chain: a vision block's input is sent once (Keep), and each block after
// it is built by the shard from this worker's partial sum (Next).
type chainPeers struct {
	shard     *model.VisionShard
	next      string
	nextLayer int
	pending   []float32 // the shard's partial of (next, nextLayer), computed ahead
	sent      int       // inputs sent
	chained   int       // blocks the shard built itself
}

func (p *chainPeers) Count() int { return 1 }

func (p *chainPeers) Start(kind string, layer int, x []float32) func([]float32) ([][]float32, error) {
	vision := kind == model.BlockAttention || kind == model.BlockMLP
	var part []float32
	var err error
	if vision && p.pending != nil && kind == p.next && layer == p.nextLayer {
		part, p.chained = p.pending, p.chained+1
	} else if vision {
		part, err = p.shard.Keep(kind, layer, append([]float32(nil), x...))
		p.sent++
	} else {
		part, err = p.shard.Block(kind, layer, append([]float32(nil), x...))
	}
	part = append([]float32(nil), part...)
	p.pending = nil
	return func(local []float32) ([][]float32, error) {
		if err != nil {
			return nil, err
		}
		if vision {
			next, nextLayer, np, err := p.shard.Next(kind, layer, local)
			if err != nil {
				return nil, err
			}
			p.next, p.nextLayer, p.pending = next, nextLayer, append([]float32(nil), np...)
		}
		return [][]float32{part}, nil
	}
}

// A shard that builds each vision block's input from the other worker's partial sum
// (Keep, Next) computes the same floats as one sent every input: both add the two
// partials and the block's input in the same order.
func TestChainedShardMatchesSentInputs(t *testing.T) {
	m := tiny(t)
	star, _ := sharded(t, m, 2)
	sh, err := m.NewVisionShard(1, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	peers := &chainPeers{shard: sh}
	chain, _ := m.NewSession(nil)
	if err := chain.SetPeers(peers); err != nil {
		t.Fatal(err)
	}
	layers := m.Config.Vision.NumHiddenLayers
	for _, c := range cases(t)[:2] {
		px := pixels(t, m, &c)
		a, _, err := star.Image(context.Background(), px, model.Options{})
		if err != nil {
			t.Fatal(err)
		}
		sent, chained := peers.sent, peers.chained
		b, _, err := chain.Image(context.Background(), px, model.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.Projected, b.Projected) {
			t.Errorf("%s: the chained shard's features differ from the sent inputs'", c.Name)
		}
		if peers.sent-sent != 1 || peers.chained-chained != 2*layers-1 {
			t.Errorf("%s: %d inputs sent and %d blocks chained, want 1 and %d", c.Name, peers.sent-sent, peers.chained-chained, 2*layers-1)
		}
		ans, err := chain.Ask(context.Background(), px, c.Question, model.Options{MaxTokens: c.MaxTokens})
		if err != nil || !reflect.DeepEqual(ans.GeneratedIDs, c.GeneratedIDs) {
			t.Errorf("%s: %v %v", c.Name, err, ans)
		}
	}
	// A sum for a block the shard did not compute last is refused, and breaks the chain.
	x := make([]float32, m.Config.NumImageTokens()*m.Config.Vision.HiddenSize)
	fresh, err := m.NewVisionShard(1, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := fresh.Next(model.BlockAttention, 0, x); err == nil {
		t.Error("a sum without a kept block accepted")
	}
	part, err := sh.Keep(model.BlockAttention, 0, x)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := sh.Next(model.BlockAttention, 1, x); err == nil {
		t.Error("a sum for another layer accepted")
	}
	if _, _, _, err := sh.Next(model.BlockAttention, 0, x); err == nil {
		t.Error("a second sum after a refused one accepted")
	}
	if _, err := sh.Keep(model.BlockAttention, 0, x); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := sh.Next(model.BlockAttention, 0, x[:len(part)-1]); err == nil {
		t.Error("a short sum accepted")
	}
	if _, err := sh.Keep(model.BlockMLP, layers-1, x); err != nil {
		t.Fatal(err)
	}
	if next, _, np, err := sh.Next(model.BlockMLP, layers-1, x); err != nil || next != "" || np != nil {
		t.Errorf("after the last layer: %q %v %v, want nothing", next, np, err)
	}
	if _, err := sh.Keep(model.BlockDecoderMLP, 0, x); err == nil {
		t.Error("a decoder block kept")
	}
}

// faultyPeers answer as localPeers, except that the blocks of the kinds in only (every
// kind when only is empty) come back through fault.
type faultyPeers struct {
	localPeers
	name  string
	only  []string
	fault func(parts [][]float32) ([][]float32, error)
}

func (f *faultyPeers) Start(kind string, layer int, x []float32) func([]float32) ([][]float32, error) {
	wait := f.localPeers.Start(kind, layer, x)
	if len(f.only) > 0 && !slices.Contains(f.only, kind) {
		return wait
	}
	return func(local []float32) ([][]float32, error) {
		parts, err := wait(local)
		if err != nil {
			return nil, err
		}
		return f.fault(parts)
	}
}

func fail([][]float32) ([][]float32, error) { return nil, context.DeadlineExceeded }

// trim cuts every part to part[from:len−to].
func trim(from, to int) func([][]float32) ([][]float32, error) {
	return func(parts [][]float32) ([][]float32, error) {
		for i, p := range parts {
			parts[i] = p[from : len(p)-to]
		}
		return parts, nil
	}
}

// A peer that fails, or answers with the wrong number of values (a sum one off, keys
// and values that do not fit the cache), is dropped and the picture goes on alone,
// correctly; one that fails only in the image pass answered the encoder's blocks first.
func TestFaultyPeersFallBack(t *testing.T) {
	m := tiny(t)
	c := cases(t)[0]
	sh, _ := m.NewVisionShard(1, 2, nil)
	imagePass := []string{model.BlockDecoderAttention, model.BlockDecoderMLP}
	for _, p := range []*faultyPeers{
		{name: "failing", fault: fail},
		{name: "one value short", fault: trim(1, 0)},
		{name: "one value long in the encoder", only: []string{model.BlockAttention, model.BlockMLP}, fault: func(parts [][]float32) ([][]float32, error) {
			for i := range parts {
				parts[i] = append(parts[i], 0)
			}
			return parts, nil
		}},
		{name: "failing in the image pass", only: imagePass, fault: fail},
		{name: "keys and values one value short", only: []string{model.BlockDecoderAttention}, fault: trim(0, 1)},
	} {
		p.shards = []*model.VisionShard{sh}
		s, _ := m.NewSession(nil)
		if err := s.SetPeers(p); err != nil {
			t.Fatal(err)
		}
		ans, err := s.Ask(context.Background(), pixels(t, m, &c), c.Question, model.Options{})
		if err != nil || !reflect.DeepEqual(ans.GeneratedIDs, c.GeneratedIDs) {
			t.Fatalf("%s: %v %v", p.name, err, ans)
		}
		if s.Workers() != 1 {
			t.Fatalf("%s: %d workers after a peer failed", p.name, s.Workers())
		}
		if slices.Contains(p.only, model.BlockDecoderAttention) && (p.kinds[model.BlockAttention] == 0 || p.kinds[model.BlockDecoderAttention] == 0 && p.kinds[model.BlockDecoderMLP] == 0) {
			t.Fatalf("%s: the peers were asked %v", p.name, p.kinds)
		}
	}
}

// A shard sent to another worker as bytes (EncodeShardLayer, DecodeShardLayer) computes
// what the shard made in place does: the same answers, features within rounding.
func TestShardSentAsBytes(t *testing.T) {
	m := tiny(t)
	layers, err := m.ShardLayers(1, 2)
	if err != nil {
		t.Fatal(err)
	}
	var got []model.VisionLayer
	for i := range layers {
		b := model.EncodeShardLayer(nil, &layers[i])
		l, err := model.DecodeShardLayer(b)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, l)
		if _, err := model.DecodeShardLayer(b[:len(b)-4]); err == nil {
			t.Fatal("a truncated layer decoded")
		}
	}
	sent, err := model.NewVisionShardOf(&m.Config, 1, 2, got, nil)
	if err != nil {
		t.Fatal(err)
	}
	var dec []model.DecoderLayer
	for i := range m.Weights.Decoder {
		l, err := m.ShardDecoderLayer(1, 2, i)
		if err != nil {
			t.Fatal(err)
		}
		b := model.EncodeShardDecoderLayer(nil, &l)
		if dl, err := model.DecodeShardDecoderLayer(b); err != nil {
			t.Fatal(err)
		} else {
			dec = append(dec, dl)
		}
		if _, err := model.DecodeShardDecoderLayer(b[:len(b)-4]); err == nil {
			t.Fatal("a truncated decoder layer decoded")
		}
	}
	if err := sent.AddDecoder(&m.Config, dec, nil); err != nil {
		t.Fatal(err)
	}
	s, _ := m.NewSession(nil)
	if err := s.SetPeers(&localPeers{shards: []*model.VisionShard{sent}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases(t)[:3] {
		ans, err := s.Ask(context.Background(), pixels(t, m, &c), c.Question, model.Options{MaxTokens: c.MaxTokens})
		if err != nil || !reflect.DeepEqual(ans.GeneratedIDs, c.GeneratedIDs) {
			t.Errorf("%s with the shard sent as bytes: %v %v", c.Name, err, ans)
		}
	}
}

// The decoder's pass over the image rows is shared too: with 2 and 3 shards every
// step's logits stay within 1e-5 of one worker's, the answers are the same, and each
// decoder layer asked the peers for both of its blocks.
func TestShardedImagePass(t *testing.T) {
	m := tiny(t)
	one, _ := m.NewSession(nil)
	logitsOf := func(s *model.Session, c *fixture.Case) ([][]float32, []int) {
		var steps [][]float32
		ans, err := s.Ask(context.Background(), pixels(t, m, c), c.Question, model.Options{MaxTokens: c.MaxTokens,
			OnLogits: func(_ int, l []float32) { steps = append(steps, append([]float32(nil), l...)) }})
		if err != nil {
			t.Fatal(err)
		}
		return steps, ans.GeneratedIDs
	}
	for _, count := range []int{2, 3} {
		s, peers := sharded(t, m, count)
		for _, c := range cases(t)[:3] {
			want, wantIDs := logitsOf(one, &c)
			got, ids := logitsOf(s, &c)
			if !reflect.DeepEqual(ids, wantIDs) || !reflect.DeepEqual(ids, c.GeneratedIDs) {
				t.Errorf("%d shards, %s: ids %v, one worker %v, HF %v", count, c.Name, ids, wantIDs, c.GeneratedIDs)
				continue
			}
			var worst float64
			for i := range want {
				for j := range want[i] {
					worst = math.Max(worst, math.Abs(float64(want[i][j]-got[i][j])))
				}
			}
			if worst > 1e-5 {
				t.Errorf("%d shards, %s: logits differ by %g", count, c.Name, worst)
			}
		}
		layers := (len(m.Weights.Decoder) - 1) * 3 // three pictures; the last layer's keys and values alone, without the peers
		if peers.kinds[model.BlockDecoderAttention] != layers || peers.kinds[model.BlockDecoderMLP] != layers {
			t.Fatalf("%d shards: the peers were asked %v, want %d of each decoder block", count, peers.kinds, layers)
		}
		if s.Workers() != count {
			t.Fatalf("%d workers after the questions, want %d", s.Workers(), count)
		}
	}
}

// The shards' heads and MLP units tile the layer, every shard holds some of each, and
// the main worker's MLP share is at least as large as any peer's (with three or more
// shards it fills their copies' time with work of its own; two chain and split evenly).
func TestShardBoundsTile(t *testing.T) {
	large := model.LargeVQAv2Config()
	for _, c := range []model.Config{large, tiny(t).Config} {
		for count := 1; count <= c.Vision.NumAttentionHeads; count++ {
			var heads, units int
			var main int
			for i := 0; i < count; i++ {
				h0, h1, i0, i1 := c.ShardBounds(i, count)
				if h0 != heads || i0 != units || h1 <= h0 || i1 <= i0 {
					t.Fatalf("%d of %d: heads [%d,%d) units [%d,%d) after %d heads, %d units", i, count, h0, h1, i0, i1, heads, units)
				}
				if i == 0 {
					main = i1 - i0
				} else if i1-i0 > main {
					t.Errorf("%d of %d: %d units, the main worker %d", i, count, i1-i0, main)
				}
				heads, units = h1, i1
			}
			if heads != c.Vision.NumAttentionHeads || units != c.Vision.IntermediateSize {
				t.Fatalf("%d shards cover %d heads, %d units", count, heads, units)
			}
		}
	}
	if _, _, i0, i1 := large.ShardBounds(0, 2); i0 != 0 || i1 != 2048 {
		t.Errorf("main worker of 2 (chained blocks): units [%d,%d), want half", i0, i1)
	}
	if _, _, i0, i1 := large.ShardBounds(0, 3); i0 != 0 || i1 <= 4096/3 || i1%64 != 0 {
		t.Errorf("main worker of 3: units [%d,%d), want more than a third, in 64s", i0, i1)
	}
}

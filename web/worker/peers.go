package worker

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"gitvqa/model"
	"gitvqa/model/kernels"
	"gitvqa/web/protocol"
)

// errGone is a block's error when its peer set was replaced or failed before the
// answer came.
var errGone = errors.New("the shard workers were replaced or failed")

// PeerTimeout bounds the wait for a peer's partial sum: a block takes well under a
// second, so a peer silent this long has failed.
var PeerTimeout = 2 * time.Minute

// peerSet is model.Peers over the ports to the shard workers.
type peerSet struct {
	ports   []protocol.Port
	dead    chan struct{} // closed when the set is replaced or fails
	once    sync.Once
	memory  []int64          // each peer's memory, as its last partial said
	profile *kernels.Profile // where the peers' compute time is counted
	mu      sync.Mutex
	seq     int
	wait    map[int]chan partial // by seq
	layers  int                  // the encoder's: where a chain of blocks ends
	ahead   *aheadBlock
}

type partial struct {
	x   []float32
	err error
	ms  float64 // the peer's compute time
}

func (p *peerSet) Count() int { return len(p.ports) }

func (p *peerSet) Start(kind string, layer int, x []float32) func([]float32) ([][]float32, error) {
	select {
	case <-p.dead: // replaced or failed between blocks: nobody would answer
		return func([]float32) ([][]float32, error) { return nil, errGone }
	default:
	}
	// With one peer, the encoder's blocks chain: the peer gets the first block's input,
	// then only this worker's partial sum of each block, from which it builds the next
	// block's input itself while this worker adds the peer's partial (half the copies
	// and one message hop fewer between two blocks).
	chain := len(p.ports) == 1 && (kind == model.BlockAttention || kind == model.BlockMLP)
	p.mu.Lock()
	ahead := p.ahead
	p.ahead = nil // a block computed ahead that this one is not: its answer is dropped
	var chans []chan partial
	var sendErr error
	if chain && ahead != nil && ahead.kind == kind && ahead.layer == layer {
		chans = append(chans, ahead.ch)
	} else {
		for _, port := range p.ports {
			seq, ch := p.expect()
			chans = append(chans, ch)
			if err := port.Post(protocol.Block{Seq: seq, Kind: kind, Layer: layer, X: x, Keep: chain}); err != nil {
				sendErr = err
			}
		}
	}
	p.mu.Unlock()
	return func(local []float32) ([][]float32, error) {
		if sendErr != nil {
			return nil, sendErr
		}
		if next, nextLayer, ok := model.NextVisionBlock(kind, layer, p.layers); chain && ok {
			p.mu.Lock()
			seq, ch := p.expect()
			p.ahead = &aheadBlock{next, nextLayer, ch}
			err := p.ports[0].Post(protocol.Block{Seq: seq, Kind: kind, Layer: layer, X: local, Sum: true})
			if err != nil { // nobody will answer it
				delete(p.wait, seq)
				p.ahead = nil
			}
			p.mu.Unlock()
			if err != nil {
				return nil, err
			}
		}
		timeout := time.After(PeerTimeout)
		parts := make([][]float32, 0, len(chans))
		for _, ch := range chans {
			select {
			case r := <-ch:
				if r.err != nil {
					return nil, r.err
				}
				p.profile.Add("peers.compute", time.Duration(r.ms*float64(time.Millisecond)))
				parts = append(parts, r.x) // each port decodes into a buffer of its own
			case <-timeout:
				return nil, errors.New("a peer did not answer in time")
			case <-p.dead:
				return nil, errGone
			}
		}
		return parts, nil
	}
}

// expect registers a wait for the answer to the next seq (p.mu held).
func (p *peerSet) expect() (int, chan partial) {
	p.seq++
	ch := make(chan partial, 1)
	p.wait[p.seq] = ch
	return p.seq, ch
}

// aheadBlock is the block the one peer computes from this worker's last partial sum.
type aheadBlock struct {
	kind  string
	layer int
	ch    chan partial
}

// failAll ends every wait with err (a shard worker died).
func (p *peerSet) failAll(err error) {
	if p.dead != nil {
		p.once.Do(func() { close(p.dead) })
	}
	p.mu.Lock()
	waits := p.wait
	p.wait = map[int]chan partial{}
	p.mu.Unlock()
	for _, ch := range waits {
		ch <- partial{err: err}
	}
}

// close stops the set's ports (it was replaced): their handlers and kept buffers go.
func (p *peerSet) close() {
	for _, port := range p.ports {
		port.Close()
	}
}

// reply delivers a peer's answer to the waiting block.
func (p *peerSet) reply(m protocol.Partial) {
	p.mu.Lock()
	ch := p.wait[m.Seq]
	delete(p.wait, m.Seq)
	p.mu.Unlock()
	if ch == nil {
		return
	}
	var err error
	if m.Error != "" {
		err = errors.New(m.Error)
	}
	ch <- partial{m.X, err, m.Ms}
}

// ---- the main worker's side ----------------------------------------------------------

// ShardTimeout bounds how long the main worker waits for a shard worker to take its
// share.
var ShardTimeout = time.Minute

// setPeers gives each shard worker its share of the vision layers over its port, waits
// until each holds it, and installs the ports on the session: between questions. If a
// shard worker fails, the main worker goes on alone (and says so: workers 1).
func (w *Worker) setPeers(ports []protocol.Port) {
	done := make(chan struct{})
	w.jobs <- job{run: func() {
		defer close(done)
		w.mu.Lock()
		s := w.session
		w.mu.Unlock()
		if s == nil {
			w.fail(0, protocol.CodeNotLoaded, errors.New("peers before the model"))
			return
		}
		p := &peerSet{ports: ports, profile: s.Backend().Profile(), wait: map[int]chan partial{}, memory: make([]int64, len(ports)),
			dead: make(chan struct{}), layers: s.Model().Config.Vision.NumHiddenLayers}
		w.mu.Lock()
		w.peers = p
		w.mu.Unlock()
		ready := make(chan error, len(ports))
		for i, port := range ports {
			port.Listen(func(m protocol.Message) {
				switch m := m.(type) {
				case protocol.Partial:
					p.mu.Lock()
					p.memory[i] = m.MemoryBytes
					p.mu.Unlock()
					p.reply(m)
				case protocol.ShardReady:
					p.mu.Lock()
					p.memory[i] = m.MemoryBytes
					p.mu.Unlock()
					ready <- nil
				case protocol.Error: // the shard failed, or sent what could not be decoded
					ready <- errors.New(m.Message)
					p.failAll(errors.New(m.Message))
				}
			})
		}
		var err error
		if len(ports) > 0 {
			err = w.sendShares(s.Model(), ports)
		}
		timeout := time.After(ShardTimeout)
		for range ports {
			if err != nil {
				break
			}
			select {
			case err = <-ready:
			case <-p.dead:
				err = errors.New("the shard workers were replaced")
			case <-timeout:
				err = errors.New("a shard worker did not take its share in time")
			}
		}
		var peers model.Peers
		if len(ports) > 0 && err == nil {
			peers = p
		}
		if err := s.SetPeers(peers); err != nil {
			w.fail(0, protocol.CodeInternal, err)
			return
		}
		w.Post(protocol.PeersReady{Workers: s.Workers()})
	}}
	<-done
}

// sendShares sends shard i+1 of 1+len(ports) to each port: the config, then a layer
// at a time (one layer's bytes in Go memory at once).
func (w *Worker) sendShares(m *model.Model, ports []protocol.Port) error {
	cfg, err := json.Marshal(m.Config)
	if err != nil {
		return err
	}
	var buf []byte
	layers, decoder := len(m.Weights.Vision), len(m.Weights.Decoder)
	for i, port := range ports {
		if err := port.Post(protocol.ShardModel{Config: cfg, Layers: layers, DecoderLayers: decoder}); err != nil {
			return err
		}
		for l := 0; l < layers; l++ {
			share, err := m.ShardLayer(i+1, 1+len(ports), l)
			if err != nil {
				return err
			}
			buf = model.EncodeShardLayer(buf[:0], &share)
			if err := port.Post(protocol.ShardLayer{Layer: l, Data: buf}); err != nil {
				return err
			}
		}
		for l := 0; l < decoder; l++ {
			share, err := m.ShardDecoderLayer(i+1, 1+len(ports), l)
			if err != nil {
				return err
			}
			buf = model.EncodeShardDecoderLayer(buf[:0], &share)
			if err := port.Post(protocol.ShardLayer{Layer: l, Decoder: true, Data: buf}); err != nil {
				return err
			}
		}
	}
	return nil
}

// ---- the shard worker's side ---------------------------------------------------------

// loadShard waits on its port for its share of the vision encoder from the main worker,
// builds it on the backend the message asks for, says so (on the port and to the page),
// then answers blocks.
func (w *Worker) loadShard(r protocol.Shard) {
	if r.Port == nil || !knownKernels[r.Kernels] {
		w.fail(0, protocol.CodeBadMessage, fmt.Errorf("a shard message needs its port and a known kernel set (kernels %q)", r.Kernels))
		return
	}
	start := time.Now()
	var cfg model.Config
	var layers []model.VisionLayer
	var decoder []model.DecoderLayer
	want, wantDecoder := -1, -1
	fail := func(err error) {
		e := protocol.Error{Code: protocol.CodeLoadFailed, Message: "shard worker: " + err.Error()}
		r.Port.Post(e)
		w.Post(e)
	}
	r.Port.Listen(func(m protocol.Message) {
		switch m := m.(type) {
		case protocol.ShardModel:
			c, err := model.ParseConfig(m.Config)
			if err != nil {
				fail(err)
				return
			}
			if m.Layers != c.Vision.NumHiddenLayers || m.DecoderLayers != c.NumHiddenLayers {
				fail(fmt.Errorf("%d vision and %d decoder layers announced, the config has %d and %d",
					m.Layers, m.DecoderLayers, c.Vision.NumHiddenLayers, c.NumHiddenLayers))
				return
			}
			cfg, want, wantDecoder, layers, decoder = c, m.Layers, m.DecoderLayers, nil, nil
		case protocol.ShardLayer:
			if m.Decoder {
				l, err := model.DecodeShardDecoderLayer(m.Data)
				if err == nil && (m.Layer != len(decoder) || len(layers) != want || wantDecoder < 0) {
					err = errors.New("out of order")
				}
				if err != nil {
					fail(fmt.Errorf("decoder layer %d: %v", m.Layer, err))
					return
				}
				decoder = append(decoder, l)
			} else {
				l, err := model.DecodeShardLayer(m.Data)
				if err != nil || m.Layer != len(layers) || want < 0 {
					fail(fmt.Errorf("layer %d out of order or damaged: %v", m.Layer, err))
					return
				}
				layers = append(layers, l)
			}
			if want >= 0 && len(layers) == want && len(decoder) == wantDecoder {
				received := ms(time.Since(start))
				go w.buildShard(r, &cfg, layers, decoder, received, start)
			}
		case protocol.Block:
			w.block(m, r.Port)
		}
	})
}

// buildShard compiles the shard's blocks once its share has arrived.
func (w *Worker) buildShard(r protocol.Shard, cfg *model.Config, layers []model.VisionLayer, decoder []model.DecoderLayer, receivedMs float64, start time.Time) {
	backendStart := time.Now()
	kernels := r.Kernels // the main worker's CPU set; a shard never takes the GPU
	if kernels == "" || kernels == protocol.KernelsAuto || kernels == protocol.KernelsWebGPU {
		kernels = protocol.KernelsCPU
	}
	b, _ := w.backend(kernels, r.Exact, 1)
	backendMs := ms(time.Since(backendStart))
	shard, err := model.NewVisionShardOf(cfg, r.Index, r.Count, layers, b)
	if err == nil {
		err = shard.AddDecoder(cfg, decoder, b)
	}
	if err != nil {
		e := protocol.Error{Code: protocol.CodeLoadFailed, Message: "shard worker: " + err.Error()}
		r.Port.Post(e)
		w.Post(e)
		return
	}
	w.mu.Lock()
	w.shard = shard
	w.mu.Unlock()
	var phases []protocol.Phase
	if w.BootPhases != nil {
		phases = w.BootPhases()
	}
	phases = append(phases, protocol.Phase{Name: "receive share", Ms: receivedMs}, protocol.Phase{Name: "self-test and warm-up", Ms: backendMs})
	ready := protocol.ShardReady{Index: r.Index, Count: r.Count, Kernels: b.Name(), Exact: b.Exact(),
		Phases: phases, LoadMs: ms(time.Since(start)), MemoryBytes: w.memoryBytes()}
	r.Port.Post(ready)
	w.Post(ready)
}

// block computes this shard's partial sum for the main worker, in order.
func (w *Worker) block(r protocol.Block, reply protocol.Port) {
	w.jobs <- job{run: func() {
		w.mu.Lock()
		s := w.shard
		w.mu.Unlock()
		if s == nil {
			reply.Post(protocol.Partial{Seq: r.Seq, Error: "this worker holds no shard"})
			return
		}
		start := time.Now()
		var x []float32
		var err error
		switch {
		case r.Sum:
			var next string
			next, _, x, err = s.Next(r.Kind, r.Layer, r.X)
			if err == nil && next == "" {
				return // the encoder's last block: nothing follows, nobody waits
			}
		case r.Keep:
			x, err = s.Keep(r.Kind, r.Layer, r.X)
		default:
			x, err = s.Block(r.Kind, r.Layer, r.X)
		}
		if err != nil {
			reply.Post(protocol.Partial{Seq: r.Seq, Error: err.Error()})
			return
		}
		var mem int64
		if w.MemoryBytes != nil {
			mem = w.MemoryBytes()
		}
		reply.Post(protocol.Partial{Seq: r.Seq, X: x, Ms: ms(time.Since(start)), MemoryBytes: mem})
	}}
}

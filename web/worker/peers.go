package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gitvqa/model"
	"gitvqa/model/kernels"
	"gitvqa/web/protocol"
)

// PeerTimeout bounds the wait for a peer's partial sum: a block takes well under a
// second, so a peer silent this long has failed.
var PeerTimeout = 2 * time.Minute

// peerSet is model.Peers over the ports to the shard workers.
type peerSet struct {
	ports   []protocol.Port
	memory  []int64          // each peer's memory, as its last partial said
	profile *kernels.Profile // where the peers' compute time is counted
	mu      sync.Mutex
	seq     int
	wait    map[int]chan partial // by seq
}

type partial struct {
	x   []float32
	err error
	ms  float64 // the peer's compute time
}

func (p *peerSet) Count() int { return len(p.ports) }

func (p *peerSet) Start(kind string, layer int, x []float32) func([]float32) error {
	p.mu.Lock()
	var chans []chan partial
	var sendErr error
	for _, port := range p.ports {
		p.seq++
		ch := make(chan partial, 1)
		p.wait[p.seq] = ch
		chans = append(chans, ch)
		if err := port.Post(protocol.Block{Seq: p.seq, Kind: kind, Layer: layer, X: x}); err != nil {
			sendErr = err
		}
	}
	p.mu.Unlock()
	return func(dst []float32) error {
		if sendErr != nil {
			return sendErr
		}
		timeout := time.After(PeerTimeout)
		for _, ch := range chans {
			select {
			case r := <-ch:
				if r.err != nil {
					return r.err
				}
				p.profile.Add("peers.compute", time.Duration(r.ms*float64(time.Millisecond)))
				if len(r.x) != len(dst) {
					return fmt.Errorf("a peer sent %d values, not %d", len(r.x), len(dst))
				}
				for i, v := range r.x {
					dst[i] += v
				}
			case <-timeout:
				return errors.New("a peer did not answer in time")
			}
		}
		return nil
	}
}

// failAll ends every wait with err (a shard worker died).
func (p *peerSet) failAll(err error) {
	p.mu.Lock()
	waits := p.wait
	p.wait = map[int]chan partial{}
	p.mu.Unlock()
	for _, ch := range waits {
		ch <- partial{err: err}
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

// setPeers installs the ports to the shard workers on the session, between questions.
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
		p := &peerSet{ports: ports, profile: s.Backend().Profile(), wait: map[int]chan partial{}, memory: make([]int64, len(ports))}
		for i, port := range ports {
			port.Listen(func(m protocol.Message) {
				switch m := m.(type) {
				case protocol.Partial:
					p.mu.Lock()
					p.memory[i] = m.MemoryBytes
					p.mu.Unlock()
					p.reply(m)
				case protocol.Error: // a partial that could not be decoded
					p.failAll(errors.New(m.Message))
				}
			})
		}
		var peers model.Peers
		if len(ports) > 0 {
			peers = p
		}
		if err := s.SetPeers(peers); err != nil {
			w.fail(0, protocol.CodeInternal, err)
			return
		}
		w.mu.Lock()
		w.peers = p
		w.mu.Unlock()
		w.Post(protocol.PeersReady{Workers: s.Workers()})
	}}
	<-done
}

// ---- the shard worker's side ---------------------------------------------------------

// loadShard loads the model and keeps only shard index of count of its vision encoder,
// on the backend the message asks for, then answers blocks on its port.
func (w *Worker) loadShard(r protocol.Shard) {
	if r.Port == nil || !knownKernels[r.Kernels] {
		w.fail(0, protocol.CodeBadMessage, fmt.Errorf("a shard message needs its port and a known kernel set (kernels %q)", r.Kernels))
		return
	}
	go func() {
		start := time.Now()
		f, err := w.fetch(context.Background(), r.ManifestURL, 0, false)
		var shard *model.VisionShard
		var b model.Backend
		var backendMs float64
		if err == nil {
			backendStart := time.Now()
			b, _ = w.backend(r.Kernels, r.Exact)
			backendMs = ms(time.Since(backendStart))
			shard, err = f.model.NewVisionShard(r.Index, r.Count, b)
		}
		if err != nil {
			w.fail(0, protocol.CodeLoadFailed, err)
			return
		}
		w.mu.Lock()
		w.shard = shard
		w.mu.Unlock()
		r.Port.Listen(func(m protocol.Message) {
			if b, ok := m.(protocol.Block); ok {
				w.block(b, r.Port)
			}
		})
		w.Post(protocol.ShardReady{Index: r.Index, Count: r.Count, Kernels: b.Name(), Exact: b.Exact(),
			Phases: w.phases(f, backendMs, -1), LoadMs: ms(time.Since(start)), MemoryBytes: w.memoryBytes()})
	}()
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
		x, err := s.Block(r.Kind, r.Layer, r.X)
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

package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gitvqa/model"
	"gitvqa/model/kernel"
	"gitvqa/web/protocol"
)

// Port is a channel to another worker: a MessagePort in the browser. Post sends a
// message, with x (if any) as a transferred Float32Array in the field "x".
type Port interface {
	Post(m Message, x []float32)
}

// PeerTimeout bounds the wait for a peer's partial sum: a block takes well under a
// second, so a peer silent this long has failed.
var PeerTimeout = 2 * time.Minute

// peerSet is model.Peers over the ports to the shard workers.
type peerSet struct {
	ports []Port
	mu    sync.Mutex
	seq   int
	wait  map[int]chan partial // by seq
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
	for _, port := range p.ports {
		p.seq++
		ch := make(chan partial, 1)
		p.wait[p.seq] = ch
		chans = append(chans, ch)
		port.Post(Message{"type": protocol.Block, "seq": p.seq, "kind": kind, "layer": layer, "v": protocol.Version}, x)
	}
	p.mu.Unlock()
	return func(dst []float32) error {
		defer kernel.Timed("peers.wait")()
		timeout := time.After(PeerTimeout)
		for _, ch := range chans {
			select {
			case r := <-ch:
				if r.err != nil {
					return r.err
				}
				kernel.AddProfile("peers.compute", r.ms)
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
func (p *peerSet) reply(seq int, x []float32, err error, ms float64) {
	p.mu.Lock()
	ch := p.wait[seq]
	delete(p.wait, seq)
	p.mu.Unlock()
	if ch != nil {
		ch <- partial{x, err, ms}
	}
}

// ---- the coordinator's side --------------------------------------------------------

// setPeers installs the ports to the shard workers on the session, between questions.
func (w *Worker) setPeers(ports []Port) {
	done := make(chan struct{})
	w.jobs <- &job{ctx: context.Background(), run: func() {
		defer close(done)
		w.mu.Lock()
		s := w.session
		w.mu.Unlock()
		if s == nil {
			w.fail(0, protocol.CodeNotLoaded, errors.New("peers before the model"))
			return
		}
		var peers model.Peers
		p := &peerSet{ports: ports, wait: map[int]chan partial{}}
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
		w.post(Message{"type": protocol.PeersReady, "workers": s.Workers()})
	}}
	<-done
}

// ---- the shard worker's side ---------------------------------------------------------

// loadShard loads the model and keeps only shard index of count of its vision encoder.
func (w *Worker) loadShard(r Request) {
	go func() {
		mdl, err := w.loadOnly(r.ManifestURL)
		var shard *model.VisionShard
		if err == nil {
			shard, err = mdl.NewVisionShard(r.Index, r.Count)
		}
		if err != nil {
			w.post(Message{"type": protocol.Error, "code": protocol.CodeLoadFailed, "message": err.Error()})
			return
		}
		w.mu.Lock()
		w.shard = shard
		w.mu.Unlock()
		w.post(Message{"type": protocol.Ready, "role": "shard", "index": r.Index, "count": r.Count})
	}()
}

// block computes this shard's partial sum for a coordinator's request, in order.
func (w *Worker) block(r Request) {
	w.jobs <- &job{ctx: context.Background(), run: func() {
		w.mu.Lock()
		s := w.shard
		w.mu.Unlock()
		if s == nil {
			r.Reply.Post(Message{"type": protocol.Partial, "seq": r.Seq, "error": "this worker holds no shard", "v": protocol.Version}, nil)
			return
		}
		start := time.Now()
		x, err := s.Block(r.Kind, r.Layer, r.Data)
		if err != nil {
			r.Reply.Post(Message{"type": protocol.Partial, "seq": r.Seq, "error": err.Error(), "v": protocol.Version}, nil)
			return
		}
		r.Reply.Post(Message{"type": protocol.Partial, "seq": r.Seq, "ms": ms(time.Since(start)), "v": protocol.Version}, x)
	}}
}

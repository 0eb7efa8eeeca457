//go:build js && wasm

package protocol

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hack-pad/safejs"
)

// Every kind of field survives Encode then Decode; what is sent as binary is listed
// for transfer.
func TestCodecRoundTrips(t *testing.T) {
	for _, m := range []Message{
		Load{ManifestURL: "https://x.test/m/manifest.json", Exact: true, Kernels: KernelsSIMD},
		Ask{ID: 7, Image: &Image{Bytes: []byte{1, 2, 3}, Type: "image/png"}, Question: "what?", MaxTokens: 5, Caption: true, Logits: true},
		Ask{ID: 8, Image: &Image{Width: 1, Height: 1, RGBA: []byte{9, 8, 7, 6}}, Question: "q"},
		Answer{ID: 3, Text: "two", IDs: []int{1, 102}, InputIDs: []int{101}, StoppedBy: "eos",
			Timings: Timings{EncodeMs: 1.5, ImageCached: true, Tokens: 2, MemoryBytes: 1 << 33},
			Profile: map[string]float64{"linear": 12.5}, Logits: []float32{-1, 0.5, 3}},
		CacheModels{ID: 2, Models: []CachedModel{{URL: "u", Bytes: 5, Complete: true, Updated: 1.7e12, Description: "d"}}},
		Block{Seq: 4, Kind: "mlp", Layer: 23, X: []float32{1, 2, 3, 4}},
		Error{ID: 1, Code: CodeBadImage, Message: "no"},
		Started{},
	} {
		obj, transfer, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := (&Decoder{}).Decode(obj)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%T: sent %+v, got back %+v", m, m, got)
		}
		binary := 0
		switch m.(type) {
		case Ask, Answer, Block:
			binary = 1
		}
		if len(transfer) != binary {
			t.Errorf("%T: %d buffers to transfer, want %d", m, len(transfer), binary)
		}
	}
}

// Bad objects get errors that say what is wrong, not a panic or a zero message.
func TestCodecRefusesBadObjects(t *testing.T) {
	parse := func(js string) safejs.Value {
		j, _ := safejs.Global().Get("JSON")
		v, err := j.Call("parse", js)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for js, want := range map[string]string{
		`{"v": 1, "type": "ask"}`:                          "protocol version 1",
		`{"type": "ask"}`:                                  "protocol version missing",
		`{"v": 2, "type": "dance"}`:                        `unknown message type "dance"`,
		`{"v": 2, "type": "ask", "id": "seven"}`:           "id: want a number, got a string",
		`{"v": 2, "type": "ask", "id": 1.5}`:               "id: want a whole number",
		`{"v": 2, "type": "ask", "id": 1, "image": 5}`:     "image: want an object, got a number",
		`{"v": 2, "type": "block", "seq": 1, "x": [1, 2]}`: "x: want a Float32Array",
		`"hello"`: "must be an object",
	} {
		_, err := (&Decoder{}).Decode(parse(js))
		if err == nil || !contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", js, err, want)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// A Port sent in a message comes out as a Port on the other side, and messages posted
// on it arrive decoded, their float32 buffer reused message after message.
func TestPortsCarryMessages(t *testing.T) {
	ch, _ := global("MessageChannel").New()
	p1, _ := ch.Get("port1")
	p2, _ := ch.Get("port2")
	obj, transfer, err := Encode(Peers{Ports: []Port{PortOf(p1)}})
	if err != nil || len(transfer) != 1 {
		t.Fatalf("%v, %d to transfer", err, len(transfer))
	}
	m, err := (&Decoder{}).Decode(obj)
	if err != nil {
		t.Fatal(err)
	}
	peers := m.(Peers)
	got := make(chan Block, 2)
	peers.Ports[0].Listen(func(m Message) { got <- m.(Block) })
	other := PortOf(p2)
	for i := 1; i <= 2; i++ {
		if err := other.Post(Block{Seq: i, Kind: "attention", X: []float32{float32(i), 0.25}}); err != nil {
			t.Fatal(err)
		}
		select {
		case b := <-got:
			if b.Seq != i || !reflect.DeepEqual(b.X, []float32{float32(i), 0.25}) {
				t.Fatalf("got %+v", b)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("nothing arrived on the port")
		}
	}
}

// A port keeps the buffers of the large Float32Arrays it receives and fills them for
// what it sends back, so that the exchange between workers allocates no new arrays:
// a smaller message gets a view on a larger buffer, which travels whole.
func TestPortsSendBackWhatTheyReceived(t *testing.T) {
	ch, _ := global("MessageChannel").New()
	p1, _ := ch.Get("port1")
	p2, _ := ch.Get("port2")
	a, b := PortOf(p1).(*jsPort), PortOf(p2).(*jsPort)
	atB, atA := make(chan Message, 1), make(chan Message, 1)
	b.Listen(func(m Message) { atB <- m })
	a.Listen(func(m Message) { atA <- m })
	receive := func(c chan Message) Message {
		select {
		case m := <-c:
			return m
		case <-time.After(5 * time.Second):
			t.Fatal("nothing arrived on the port")
			return nil
		}
	}
	counting := func(n int, scale float32) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = scale * float32(i)
		}
		return x
	}
	big, small := counting(2*spareMin, 1), counting(spareMin, -2)
	if err := a.Post(Block{Seq: 1, X: big}); err != nil {
		t.Fatal(err)
	}
	if m := receive(atB).(Block); !reflect.DeepEqual(m.X, big) {
		t.Fatal("the block arrived changed")
	}
	if len(b.spare.buffers) != 1 {
		t.Fatalf("%d buffers kept, want the one received", len(b.spare.buffers))
	}
	kept := b.spare.buffers[0]
	if err := b.Post(Partial{Seq: 1, X: small}); err != nil { // on the larger buffer
		t.Fatal(err)
	}
	if len(b.spare.buffers) != 0 || byteLength(kept) != 0 {
		t.Fatal("the kept buffer was not used and transferred")
	}
	if m := receive(atA).(Partial); !reflect.DeepEqual(m.X, small) {
		t.Fatal("the partial arrived changed")
	}
	if len(a.spare.buffers) != 1 || byteLength(a.spare.buffers[0]) != 4*len(big) {
		t.Fatal("the larger buffer did not come back whole")
	}
	// small arrays are not kept; a buffer under two arrays is kept once; the smallest
	// goes past spareMax
	if err := a.Post(Block{Seq: 2, X: []float32{1, 2}}); err != nil {
		t.Fatal(err)
	}
	receive(atB)
	if len(b.spare.buffers) != 0 {
		t.Fatalf("%d buffers kept of a small message", len(b.spare.buffers))
	}
	whole, _ := global("Float32Array").New(2 * spareMin)
	view, _ := whole.Call("subarray", spareMin)
	b.spare.put(whole, 2*spareMin)
	b.spare.put(view, spareMin)
	for i := 1; i <= spareMax; i++ {
		f, _ := global("Float32Array").New((2 + i) * spareMin)
		b.spare.put(f, (2+i)*spareMin)
	}
	if len(b.spare.buffers) != spareMax || byteLength(b.spare.buffers[0]) != 4*3*spareMin {
		t.Fatalf("kept %d buffers, the first %d bytes", len(b.spare.buffers), byteLength(b.spare.buffers[0]))
	}
	b.Close()
	if len(b.spare.buffers) != 0 {
		t.Fatal("a closed port keeps its buffers")
	}
}

package download

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gitvqa/model/modelfile"
	"gitvqa/web/internal/fakenet"
)

type network = fakenet.Network

// memStore is a Store in memory.
type memStore struct {
	mu     sync.Mutex
	chunks map[string][]byte
	quota  int // refuse after this many puts (0: never)
	puts   int
}

func (s *memStore) Chunk(_ context.Context, ref modelfile.FileRef) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.chunks[ref.SHA256]
	return b, ok && modelfile.Verify(ref, b) == nil, nil
}

func (s *memStore) PutChunk(_ context.Context, ref modelfile.FileRef, data []byte) error {
	sha := ref.SHA256
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quota > 0 && s.puts >= s.quota {
		return errors.New("QuotaExceededError")
	}
	s.puts++
	if s.chunks == nil {
		s.chunks = map[string][]byte{}
	}
	s.chunks[sha] = append([]byte(nil), data...)
	return nil
}

// folder writes a small model folder (any tensors will do: these tests are about files).
func folder(t testing.TB) (*modelfile.Manifest, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	w, err := modelfile.NewWriter(dir, 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Pieces smaller than a chunk, so that the folder has several (each tensor keeps
	// to one chunk).
	v := make([]float32, 1700)
	for i := range v {
		v[i] = float32(i%97) / 97
	}
	for i := 0; i < 6; i++ {
		w.AddF32(fmt.Sprintf("a%d", i), []int{200}, v[i:i+200])
	}
	w.AddInt8("b.weight", []int{17, 50}, v[:850], 0)
	m, err := w.Finish([]byte(`{}`), []byte(`{}`), []byte("[PAD]\n"), "int8", 0)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, r := range append([]modelfile.FileRef{m.Tokenizer}, m.Chunks...) {
		b, err := modelfile.DirSource(dir).Fetch(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		files[r.File] = b
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	files["manifest.json"] = raw
	return m, files
}

func loader(n *network, s Store) *Loader {
	l := &Loader{ManifestURL: "https://example.test/models/tiny/manifest.json", Client: n.Client(), Retries: 2, Backoff: 1}
	if s != nil {
		l.Store = s
	}
	return l
}

func load(t testing.TB, l *Loader, cached []byte) (*modelfile.Store, bool, error) {
	m, _, offline, err := l.Manifest(context.Background(), cached)
	if err != nil {
		return nil, offline, err
	}
	src := l.Source(context.Background(), m)
	st, err := modelfile.Load(context.Background(), m, src, nil)
	src.Close()
	l.WaitStored()
	return st, offline, err
}

func TestDownloadsVerifiesAndStores(t *testing.T) {
	m, files := folder(t)
	n := &network{Files: files}
	store := &memStore{}
	l := loader(n, store)
	var last Progress
	l.OnProgress = func(p Progress) { last = p }
	if _, _, err := load(t, l, nil); err != nil {
		t.Fatal(err)
	}
	if last.Loaded != m.TotalBytes || last.Total != m.TotalBytes || last.Phase != "download" || last.FromCache != 0 {
		t.Fatalf("last progress %+v, total %d", last, m.TotalBytes)
	}
	if len(store.chunks) != len(m.Chunks)+1 {
		t.Fatalf("%d files stored, want %d", len(store.chunks), len(m.Chunks)+1)
	}
	// Second visit: everything from the store, nothing from the network but the manifest.
	n.Requests()
	l2 := loader(n, store)
	l2.OnProgress = func(p Progress) { last = p }
	if _, _, err := load(t, l2, nil); err != nil {
		t.Fatal(err)
	}
	if r := n.Requests(); len(r) != 1 || last.FromCache != m.TotalBytes || last.Phase != "verify" {
		t.Fatalf("requests %v, progress %+v", r, last)
	}
}

func TestOfflineFromStore(t *testing.T) {
	_, files := folder(t)
	n := &network{Files: files}
	store := &memStore{}
	if _, _, err := load(t, loader(n, store), nil); err != nil {
		t.Fatal(err)
	}
	n.SetDown(true)
	if _, offline, err := load(t, loader(n, store), files["manifest.json"]); err != nil || !offline {
		t.Fatalf("offline load: %v (offline=%v)", err, offline)
	}
	if _, _, err := load(t, loader(n, &memStore{}), nil); !errors.Is(err, ErrOffline) {
		t.Fatalf("offline with nothing cached: %v", err)
	}
}

func TestDroppedConnectionRefetchesOnlyThatChunk(t *testing.T) {
	m, files := folder(t)
	victim := m.Chunks[2].File
	n := &network{Files: files, DropOnce: map[string]int{victim: 300}}
	store := &memStore{}
	if _, _, err := load(t, loader(n, store), nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range m.Chunks {
		want := 1
		if c.File == victim {
			want = 2
		}
		if got := n.Count(c.File); got != want {
			t.Errorf("%s fetched %d times, want %d", c.File, got, want)
		}
	}
}

// An interrupted download resumes at the first missing chunk: what was stored stays.
func TestResumeAfterFailedLoad(t *testing.T) {
	m, files := folder(t)
	bad := m.Chunks[3].File
	n := &network{Files: files, Status: map[string]int{bad: http.StatusServiceUnavailable}}
	store := &memStore{}
	_, _, err := load(t, loader(n, store), nil)
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("load with a dead chunk: %v", err)
	}
	n.Status = nil
	n.Requests()
	if _, _, err := load(t, loader(n, store), nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range m.Chunks[:3] {
		if n.Count(c.File) != 0 {
			t.Errorf("%s was fetched again although stored", c.File)
		}
	}
	if n.Count(bad) != 1 {
		t.Errorf("the missing chunk was fetched %d times", n.Count(bad))
	}
}

func TestCorruptChunkNeverStored(t *testing.T) {
	m, files := folder(t)
	victim := m.Chunks[1]
	// Corrupt once: refused, fetched again, the good copy stored.
	n := &network{Files: files, Corrupt: map[string]int{victim.File: 1}}
	store := &memStore{}
	if _, _, err := load(t, loader(n, store), nil); err != nil {
		t.Fatal(err)
	}
	if n.Count(victim.File) != 2 || modelfile.Verify(victim, store.chunks[victim.SHA256]) != nil {
		t.Fatalf("fetched %d times; stored copy verifies: %v", n.Count(victim.File), modelfile.Verify(victim, store.chunks[victim.SHA256]))
	}
	// Corrupt every time: the load fails and nothing bad is stored.
	n = &network{Files: files, Corrupt: map[string]int{victim.File: 100}}
	store = &memStore{}
	_, _, err := load(t, loader(n, store), nil)
	if err == nil || !strings.Contains(err.Error(), "sha256 mismatch") {
		t.Fatalf("permanently corrupt chunk: %v", err)
	}
	if _, ok := store.chunks[victim.SHA256]; ok {
		t.Fatal("a corrupt chunk was stored")
	}
	// A copy damaged in storage is fetched again.
	n = &network{Files: files}
	store = &memStore{chunks: map[string][]byte{victim.SHA256: []byte("rotten")}}
	if _, _, err := load(t, loader(n, store), nil); err != nil {
		t.Fatal(err)
	}
	if n.Count(victim.File) != 1 {
		t.Fatal("a damaged stored chunk was used")
	}
}

func TestQuotaKeepsGoingFromMemory(t *testing.T) {
	m, files := folder(t)
	store := &memStore{quota: 2}
	l := loader(&network{Files: files}, store)
	var storeErr error
	l.OnStoreError = func(err error) { storeErr = err }
	st, _, err := load(t, l, nil)
	if err != nil {
		t.Fatal(err)
	}
	if storeErr == nil || l.StoreEnabled() {
		t.Fatalf("quota error not reported (%v)", storeErr)
	}
	if v, err := st.Float32("a0"); err != nil || len(v) != 200 {
		t.Fatalf("%v %d", err, len(v))
	}
	if len(store.chunks) != 2 || len(m.Chunks) < 3 {
		t.Fatalf("%d stored", len(store.chunks))
	}
}

func TestBadManifest(t *testing.T) {
	_, files := folder(t)
	files["manifest.json"] = []byte(`{"format":"gitvqa-model","version":7}`)
	_, _, err := load(t, loader(&network{Files: files}, nil), nil)
	if err == nil || !strings.Contains(err.Error(), "version 7") {
		t.Fatalf("%v", err)
	}
	_, _, err = load(t, loader(&network{Files: map[string][]byte{}}, nil), nil)
	if err == nil || !strings.Contains(fmt.Sprint(err), "404") {
		t.Fatalf("missing manifest: %v", err)
	}
}

// A connection that stays open and sends nothing is abandoned after Stall and retried;
// if it stalls every time the load fails saying so.
func TestStalledRequestsAreRetriedThenFail(t *testing.T) {
	m, files := folder(t)
	victim := m.Chunks[1].File
	n := &network{Files: files, Stall: map[string]int{victim: 1, "manifest.json": 1}, StallAfter: 10}
	l := loader(n, nil)
	l.Stall = 50 * time.Millisecond
	start := time.Now()
	if _, _, err := load(t, l, nil); err != nil {
		t.Fatalf("after one stall each: %v", err)
	}
	if n.Count(victim) != 2 || n.Count("manifest.json") != 2 || time.Since(start) > 5*time.Second {
		t.Fatalf("chunk fetched %d times, manifest %d, in %v", n.Count(victim), n.Count("manifest.json"), time.Since(start))
	}
	for _, name := range []string{victim, "manifest.json"} {
		n = &network{Files: files, Stall: map[string]int{name: -1}}
		l = loader(n, nil)
		l.Stall = 20 * time.Millisecond
		_, _, err := load(t, l, nil)
		if err == nil || !strings.Contains(err.Error(), "stalled") || !strings.Contains(err.Error(), name) || n.Count(name) != 1+l.Retries {
			t.Fatalf("%s always stalls: %v (fetched %d times)", name, err, n.Count(name))
		}
	}
}

// A web page where a model file belongs (a static host's catch-all page) is named as
// such, not retried, and not mistaken for a short download or bad JSON.
func TestWebPagesInsteadOfModelFiles(t *testing.T) {
	m, files := folder(t)
	victim := m.Chunks[0].File
	n := &network{Files: files, HTML: map[string]bool{victim: true}}
	_, _, err := load(t, loader(n, nil), nil)
	if err == nil || !errors.Is(err, ErrNotModel) || !strings.Contains(err.Error(), victim) || n.Count(victim) != 1 {
		t.Fatalf("HTML chunk: %v, fetched %d times", err, n.Count(victim))
	}
	n = &network{Files: files, HTML: map[string]bool{"manifest.json": true}}
	_, _, err = load(t, loader(n, nil), nil)
	if err == nil || !errors.Is(err, ErrNotModel) || !strings.Contains(err.Error(), "manifest.json") {
		t.Fatalf("HTML manifest: %v", err)
	}
	// A manifest over the limit is refused, not cut and then misparsed.
	files["manifest.json"] = append(append([]byte(`{"description":"`), bytes.Repeat([]byte("x"), modelfile.MaxManifestBytes)...), `"}`...)
	_, _, err = load(t, loader(&network{Files: files}, nil), nil)
	if err == nil || !strings.Contains(err.Error(), "more than the 16777216 bytes") {
		t.Fatalf("huge manifest: %v", err)
	}
}

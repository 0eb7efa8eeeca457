package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gitvqa/model"
	"gitvqa/model/modelfile"
	"gitvqa/web/download"
	"gitvqa/web/protocol"
)

// fetched is a model read from its folder, with what the ready message says of it.
type fetched struct {
	loader     *download.Loader
	manifestMs float64
	model      *model.Model
	manifest   []byte
	info       *modelfile.Manifest
	cache      Cache // nil: not stored
	offline    bool
	warning    string
}

// fetch gets a model folder: from IndexedDB where it is cached, from the network
// otherwise (storing what it downloads, when the browser lets it). main: this is the
// page's main worker, which posts progress and keeps the cache's record of the model;
// a shard worker only reads (and stores a chunk it had to download).
func (w *Worker) fetch(ctx context.Context, url string, stall time.Duration, main bool) (*fetched, error) {
	f := &fetched{}
	var cache Cache
	if w.OpenCache != nil {
		c, err := w.OpenCache(ctx)
		if err != nil {
			f.warning = "Could not open the browser's storage (" + err.Error() + "): the model runs from memory and will be downloaded again next time."
		} else {
			cache = c
		}
	}
	var cached []byte
	var rec download.ModelRecord
	var haveRec bool
	if cache != nil {
		var err error
		if rec, haveRec, err = cache.Model(ctx, url); err == nil && haveRec {
			cached = rec.Manifest
		}
	}
	l := &download.Loader{ManifestURL: url, Client: w.Client, Stall: stall, Hash: w.Hash}
	f.loader = l
	if cache != nil {
		l.Store = cache
	}
	manifestStart := time.Now()
	m, raw, offline, err := l.Manifest(ctx, cached)
	f.manifestMs = ms(time.Since(manifestStart))
	if err != nil {
		return nil, err
	}
	f.info, f.manifest, f.offline = m, raw, offline
	stored := haveRec && rec.Complete && string(rec.Manifest) == string(raw)
	if cache != nil && w.FreeSpace != nil && !stored {
		if free, err := w.FreeSpace(ctx); err == nil && free < m.TotalBytes {
			f.warning = fmt.Sprintf("The browser offers %.0f MB of storage, the model needs %.0f MB: it runs from memory and will be downloaded again next time.", float64(free)/1e6, float64(m.TotalBytes)/1e6)
			l.Store = nil
		}
	}
	if l.Store != nil && !stored && main {
		if err := cache.PutModel(ctx, download.ModelRecord{URL: url, Manifest: raw, Bytes: m.TotalBytes, Updated: time.Now()}); err != nil {
			f.warning = "Could not store the model (" + err.Error() + "): it runs from memory."
			l.Store = nil
		}
	}
	l.OnStoreError = func(err error) {
		f.warning = "The browser refused to store more (" + err.Error() + "): the model runs from memory and will be downloaded again next time."
	}
	if main {
		l.OnProgress = func(p download.Progress) {
			w.Post(protocol.LoadProgress{Phase: p.Phase, Loaded: p.Loaded, Total: p.Total, FromCache: p.FromCache})
		}
		w.Post(protocol.LoadProgress{Phase: protocol.PhaseDownload, Total: m.TotalBytes})
	}
	files := []string{m.Tokenizer.SHA256}
	for _, c := range m.Chunks {
		files = append(files, c.SHA256)
	}
	if cache != nil && !stored {
		// One look at the store's keys instead of a miss per file.
		if missing, err := cache.Missing(ctx, files); err == nil {
			l.Absent = map[string]bool{}
			for _, sha := range missing {
				l.Absent[sha] = true
			}
		}
	}
	if offline && main {
		// Offline, only what is stored can load: refuse a copy with holes at once, and
		// say how to repair it, rather than failing on the first missing chunk.
		if missing, err := cache.Missing(ctx, files); err == nil && len(missing) > 0 {
			cache.PutModel(ctx, download.ModelRecord{URL: url, Manifest: raw, Bytes: m.TotalBytes, Updated: time.Now()})
			return nil, fmt.Errorf("%w: %d of its %d files are missing (the cache was cleared, or the browser evicted them), and the network is not reachable: connect once to repair it", ErrIncomplete, len(missing), len(files))
		}
	}
	src := l.Source(ctx, m)
	f.model, err = model.FromFolder(ctx, m, src, nil)
	src.Close()
	l.WaitStored()
	if err != nil {
		return nil, err
	}
	if !l.StoreEnabled() || !main {
		return f, nil
	}
	// Complete only when every file is stored: the cache may have been cleared (by this
	// page or another tab) while the download ran.
	missing, err := cache.Missing(ctx, files)
	switch {
	case err != nil:
		f.warning = "Could not check the stored model (" + err.Error() + "): it runs from memory."
	case len(missing) > 0:
		cache.PutModel(ctx, download.ModelRecord{URL: url, Manifest: raw, Bytes: m.TotalBytes, Updated: time.Now()})
		f.warning = fmt.Sprintf("The cache was cleared while the model loaded (%d of %d files are not stored): it runs from memory, and the next visit online completes the copy.", len(missing), len(files))
	case !stored:
		if err := cache.PutModel(ctx, download.ModelRecord{URL: url, Manifest: raw, Bytes: m.TotalBytes, Complete: true, Updated: time.Now()}); err != nil {
			f.warning = "Could not record the model as cached (" + err.Error() + ")."
		} else {
			f.cache = cache
		}
	default:
		f.cache = cache
	}
	return f, nil
}

// ErrIncomplete is wrapped when a model's cached copy has holes and cannot be repaired.
var ErrIncomplete = errors.New("the model's cached copy is incomplete")

// describe returns a stored manifest's description ("" when it cannot be read).
func describe(manifest []byte) string {
	m, err := modelfile.Parse(manifest)
	if err != nil {
		return ""
	}
	return m.Description
}

// phases is where a load's time went, for the ready messages.
func (w *Worker) phases(f *fetched, backendMs, sessionMs float64) []protocol.Phase {
	var out []protocol.Phase
	if w.BootPhases != nil {
		out = append(out, w.BootPhases()...)
	}
	lt := f.model.Loaded
	out = append(out,
		protocol.Phase{Name: "manifest", Ms: f.manifestMs},
		protocol.Phase{Name: "files", Ms: ms(lt.Files)},
		protocol.Phase{Name: "read storage", Ms: ms(f.loader.Busy.Get("read storage"))},
		protocol.Phase{Name: "verify", Ms: ms(f.loader.Busy.Get("verify"))},
		protocol.Phase{Name: "network", Ms: ms(f.loader.Busy.Get("network"))},
		protocol.Phase{Name: "store", Ms: ms(f.loader.Busy.Get("store"))},
		protocol.Phase{Name: "cut tensors", Ms: ms(lt.Decode)},
		protocol.Phase{Name: "build weights", Ms: ms(lt.Weights)},
		protocol.Phase{Name: "self-test and warm-up", Ms: backendMs},
	)
	if sessionMs >= 0 {
		out = append(out, protocol.Phase{Name: "compile graphs", Ms: sessionMs})
	}
	return out
}

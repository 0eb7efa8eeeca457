package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/chromedp/chromedp"

	"gitvqa/model/imageproc"
	"gitvqa/tools/serve/server"
)

// chromium starts a headless Chromium with the flags a root-run sandbox wants.
func chromium(ctx context.Context, exe string) (context.Context, func(), error) {
	profile, err := os.MkdirTemp("", "verifyreal-chromium-")
	if err != nil {
		return nil, nil, err
	}
	actx, cancelA := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.UserDataDir(profile), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("no-first-run", true))
	bctx, cancelB := chromedp.NewContext(actx)
	stop := func() { cancelB(); cancelA(); os.RemoveAll(profile) }
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		stop()
		return nil, nil, fmt.Errorf("starting Chromium: %w", err)
	}
	return bctx, stop, nil
}

// decodeInChromium decodes the picture as the page's worker would (the browser's own
// decoder, no colour conversion, alpha not premultiplied) and returns its RGB.
func decodeInChromium(ctx context.Context, exe string, picture []byte) (*imageproc.RGB, error) {
	bctx, stop, err := chromium(ctx, exe)
	if err != nil {
		return nil, err
	}
	defer stop()
	type decoded struct {
		W    int    `json:"w"`
		H    int    `json:"h"`
		RGBA string `json:"rgba"`
	}
	d, err := chromedp.Run(bctx, chromedp.Evaluate[decoded](fmt.Sprintf(`(async () => {
		const bytes = Uint8Array.from(atob(%q), (c) => c.charCodeAt(0));
		const bmp = await createImageBitmap(new Blob([bytes]), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
		const c = new OffscreenCanvas(bmp.width, bmp.height);
		const g = c.getContext('2d');
		g.drawImage(bmp, 0, 0);
		const px = g.getImageData(0, 0, bmp.width, bmp.height).data;
		let s = '';
		for (let i = 0; i < px.length; i += 0x8000) s += String.fromCharCode.apply(null, px.subarray(i, i + 0x8000));
		return { w: bmp.width, h: bmp.height, rgba: btoa(s) };
	})()`, b64(picture)), chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, err
	}
	rgba, err := base64.StdEncoding.DecodeString(d.RGBA)
	if err != nil {
		return nil, err
	}
	return imageproc.FromRGBA(d.W, d.H, rgba)
}

// askInPage serves the site with the int8 folder as models/verify/ and asks through the
// page's own API in Chromium: the worker, IndexedDB, the SIMD kernels and the browser's
// decoder, as a visitor gets them. It returns the answer and the first step's logits.
func askInPage(ctx context.Context, exe, site, int8Dir string, picture []byte, prompt string, maxTokens int) (string, []float32, error) {
	root, err := os.MkdirTemp("", "verifyreal-site-")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(root)
	absSite, _ := filepath.Abs(site)
	absModel, _ := filepath.Abs(int8Dir)
	entries, err := os.ReadDir(absSite)
	if err != nil {
		return "", nil, err
	}
	for _, e := range entries {
		if e.Name() != "models" {
			os.Symlink(filepath.Join(absSite, e.Name()), filepath.Join(root, e.Name()))
		}
	}
	os.MkdirAll(filepath.Join(root, "models"), 0o755)
	os.Symlink(absModel, filepath.Join(root, "models", "verify"))
	os.WriteFile(filepath.Join(root, "picture"), picture, 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: server.New(root)}
	go srv.Serve(ln)
	defer srv.Close()

	bctx, stop, err := chromium(ctx, exe)
	if err != nil {
		return "", nil, err
	}
	defer stop()
	page := fmt.Sprintf("http://%s/?model=models/verify/&workers=1", ln.Addr())
	if err := chromedp.Do(bctx, chromedp.Navigate(page)); err != nil {
		return "", nil, err
	}
	c, cancel := context.WithTimeout(bctx, 30*time.Minute)
	defer cancel()
	if _, err := chromedp.Run(c, chromedp.Poll[bool](`document.getElementById('load-status')?.dataset.ready === '1' || document.getElementById('load-status')?.className === 'error'`,
		chromedp.WithPollingInterval(200*time.Millisecond))); err != nil {
		return "", nil, fmt.Errorf("waiting for the model: %w", err)
	}
	if ready, _ := chromedp.Run(c, chromedp.Evaluate[bool](`document.getElementById('load-status').dataset.ready === '1'`)); !ready {
		text, _ := chromedp.Run(c, chromedp.Evaluate[string](`document.getElementById('load-status').textContent`))
		return "", nil, fmt.Errorf("the page did not load the model: %s", text)
	}
	q, _ := json.Marshal(prompt)
	type result struct {
		Text   string    `json:"text"`
		Logits []float32 `json:"logits"`
	}
	r, err := chromedp.Run(c, chromedp.Evaluate[result](fmt.Sprintf(`(async () => {
		const picture = await (await fetch('picture')).blob();
		const vqa = window.gitvqaDemo.state.vqa;
		const first = await vqa.caption(picture, { maxTokens: 1, logits: true }); // input ids [[101]]
		const q = %s;
		const r = q ? await vqa.ask(picture, q, { maxTokens: %d }) : await vqa.caption(picture, { maxTokens: %d });
		return { text: r.text, logits: Array.from(first.logits.subarray(0, 3)) };
	})()`, q, maxTokens, maxTokens), chromedp.EvalAwaitPromise))
	if err != nil {
		return "", nil, err
	}
	return r.Text, r.Logits, nil
}

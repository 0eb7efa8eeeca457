//go:build !js

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// driver is what the cross-engine suite needs of a browser: open a page, and run an
// async script in it. Chromium has chromedp; Firefox and WebKit have these two, over the
// W3C protocols they speak without extra drivers from outside Debian.
type driver interface {
	Navigate(url string) error
	// Run runs body, the body of an async function, in the page, and decodes the value
	// it returns (through JSON) into out. A thrown error is returned as one.
	Run(body string, out any) error
	Close()
}

// wrap turns an async function body into an expression that settles to JSON text: a
// value, or {__error} for what it threw.
func wrap(body string) string {
	return `(async () => {` + body + "\n})().then((v) => JSON.stringify(v === undefined ? null : v), " +
		`(e) => JSON.stringify({__error: String((e && e.stack) || e)}))`
}

func decode(text string, out any) error {
	var e struct {
		Error string `json:"__error"`
	}
	if json.Unmarshal([]byte(text), &e) == nil && e.Error != "" {
		return errors.New("in the page: " + e.Error)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal([]byte(text), out)
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startProcess runs a browser or driver in its own process group, so that Close takes
// its children (Xvfb, the web processes) with it.
func startProcess(t testing.TB, logName string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log, err := os.Create(filepath.Join(t.TempDir(), logName))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() { log.Close() })
	return cmd
}

func stopProcess(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// ---- WebDriver classic (WebKitWebDriver) ------------------------------------------------

type classicDriver struct {
	base, session string
	proc          *exec.Cmd
}

// startWebKit starts Debian's WebKitWebDriver under a virtual X display (MiniBrowser
// has no headless mode) and opens a session in MiniBrowser.
func startWebKit(t testing.TB) *classicDriver {
	const miniBrowser = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser"
	for _, f := range []string{"/usr/bin/WebKitWebDriver", miniBrowser, "/usr/bin/xvfb-run"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%s is missing: make test-browsers installs webkit2gtk-driver and xvfb (%v)", f, err)
		}
	}
	port := freePort(t)
	d := &classicDriver{base: "http://127.0.0.1:" + strconv.Itoa(port)}
	d.proc = startProcess(t, "webkitwebdriver.log", "xvfb-run", "-a", "-s", "-screen 0 1280x1024x24", "/usr/bin/WebKitWebDriver", "--port="+strconv.Itoa(port))
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get(d.base + "/status"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			d.Close()
			t.Fatal("WebKitWebDriver did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	var s struct {
		SessionID string `json:"sessionId"`
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"webkitgtk:browserOptions": map[string]any{"binary": miniBrowser, "args": []string{"--automation"}},
	}}}
	if err := d.call("POST", "/session", caps, &s); err != nil {
		d.Close()
		t.Fatalf("new WebKit session: %v", err)
	}
	d.session = "/session/" + s.SessionID
	if err := d.call("POST", d.session+"/timeouts", map[string]any{"script": 15 * 60 * 1000, "pageLoad": 5 * 60 * 1000}, nil); err != nil {
		d.Close()
		t.Fatal(err)
	}
	return d
}

// call sends one WebDriver command and decodes its "value".
func (d *classicDriver) call(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, d.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Value json.RawMessage `json:"value"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("%s %s: %s", method, path, raw)
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, r.Value)
	}
	if out != nil {
		return json.Unmarshal(r.Value, out)
	}
	return nil
}

func (d *classicDriver) Navigate(url string) error {
	return d.call("POST", d.session+"/url", map[string]any{"url": url}, nil)
}

func (d *classicDriver) Run(body string, out any) error {
	script := "const done = arguments[arguments.length - 1];\n" + wrap(body) + ".then(done);"
	var text string
	if err := d.call("POST", d.session+"/execute/async", map[string]any{"script": script, "args": []any{}}, &text); err != nil {
		return err
	}
	return decode(text, out)
}

func (d *classicDriver) Close() {
	if d.session != "" {
		d.call("DELETE", d.session, nil, nil)
	}
	stopProcess(d.proc)
}

// ---- WebDriver BiDi (Firefox) -------------------------------------------------------------

type bidiDriver struct {
	conn    *websocket.Conn
	context string
	id      atomic.Int64
	proc    *exec.Cmd
}

// startFirefox starts Debian's Firefox ESR headless with its remote agent and opens a
// WebDriver BiDi session on its first tab.
func startFirefox(t testing.TB) *bidiDriver {
	exe, err := exec.LookPath("firefox-esr")
	if err != nil {
		t.Fatal("no firefox-esr: make test-browsers installs it")
	}
	profile := t.TempDir()
	// No first-run pages, updates or telemetry; the same prefs puppeteer sets, in short.
	prefs := []string{
		`user_pref("browser.shell.checkDefaultBrowser", false);`,
		`user_pref("browser.startup.homepage_override.mstone", "ignore");`,
		`user_pref("browser.aboutwelcome.enabled", false);`,
		`user_pref("datareporting.policy.dataSubmissionEnabled", false);`,
		`user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);`,
		`user_pref("app.update.disabledForTesting", true);`,
		`user_pref("browser.safebrowsing.update.enabled", false);`,
		`user_pref("network.captive-portal-service.enabled", false);`,
		`user_pref("remote.prefs.recommended", true);`,
	}
	os.WriteFile(filepath.Join(profile, "user.js"), []byte(strings.Join(prefs, "\n")+"\n"), 0o644)
	port := freePort(t)
	d := &bidiDriver{}
	d.proc = startProcess(t, "firefox.log", exe, "--headless", "--no-remote", "--profile", profile,
		"--remote-debugging-port="+strconv.Itoa(port), "about:blank")
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, _, err := websocket.Dial(ctx, "ws://127.0.0.1:"+strconv.Itoa(port)+"/session", nil)
		cancel()
		if err == nil {
			conn.SetReadLimit(64 << 20)
			d.conn = conn
			break
		}
		if time.Now().After(deadline) {
			d.Close()
			t.Fatalf("Firefox's WebDriver BiDi endpoint did not come up: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := d.call("session.new", map[string]any{"capabilities": map[string]any{}}); err != nil {
		d.Close()
		t.Fatalf("new BiDi session: %v", err)
	}
	tree, err := d.call("browsingContext.getTree", map[string]any{})
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	var tr struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	if json.Unmarshal(tree, &tr) != nil || len(tr.Contexts) == 0 {
		d.Close()
		t.Fatalf("no browsing context: %s", tree)
	}
	d.context = tr.Contexts[0].Context
	return d
}

// call sends one BiDi command and returns its result, skipping events.
func (d *bidiDriver) call(method string, params any) (json.RawMessage, error) {
	id := d.id.Add(1)
	msg, _ := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if err := d.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		return nil, err
	}
	for {
		_, data, err := d.conn.Read(ctx)
		if err != nil {
			return nil, err
		}
		var r struct {
			ID      int64           `json:"id"`
			Type    string          `json:"type"`
			Result  json.RawMessage `json:"result"`
			Error   string          `json:"error"`
			Message string          `json:"message"`
		}
		if json.Unmarshal(data, &r) != nil || r.ID != id {
			continue // an event, or another command's late reply
		}
		if r.Type == "error" {
			return nil, fmt.Errorf("%s: %s: %s", method, r.Error, r.Message)
		}
		return r.Result, nil
	}
}

func (d *bidiDriver) Navigate(url string) error {
	_, err := d.call("browsingContext.navigate", map[string]any{"context": d.context, "url": url, "wait": "complete"})
	return err
}

func (d *bidiDriver) Run(body string, out any) error {
	res, err := d.call("script.evaluate", map[string]any{
		"expression": wrap(body), "target": map[string]any{"context": d.context}, "awaitPromise": true,
	})
	if err != nil {
		return err
	}
	var r struct {
		Type   string `json:"type"`
		Result struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"result"`
		ExceptionDetails json.RawMessage `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return err
	}
	if r.Type != "success" || r.Result.Type != "string" {
		return fmt.Errorf("script.evaluate: %s", res)
	}
	return decode(r.Result.Value, out)
}

func (d *bidiDriver) Close() {
	if d.conn != nil {
		d.call("session.end", map[string]any{})
		d.conn.Close(websocket.StatusNormalClosure, "")
	}
	stopProcess(d.proc)
}

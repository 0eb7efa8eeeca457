//go:build js && wasm

// Package jsutil holds the few JavaScript interop helpers the browser packages share,
// over github.com/hack-pad/safejs: awaiting a Promise, moving bytes across, and
// reading DOMExceptions.
package jsutil

import (
	"context"
	"errors"
	"fmt"

	"github.com/hack-pad/safejs"
)

// JSError is a JavaScript exception: Name is the DOMException name, such as
// "QuotaExceededError".
type JSError struct {
	Name, Message string
}

func (e *JSError) Error() string { return e.Name + ": " + e.Message }

// ErrorOf turns a rejected value or thrown exception into a Go error.
func ErrorOf(v safejs.Value) error {
	if v.IsUndefined() || v.IsNull() {
		return &JSError{Name: "Error", Message: "unknown JavaScript error"}
	}
	name, _ := stringProp(v, "name")
	msg, _ := stringProp(v, "message")
	if name == "" && msg == "" {
		s, _ := v.String()
		return &JSError{Name: "Error", Message: s}
	}
	return &JSError{Name: name, Message: msg}
}

// IsQuota reports whether err is a storage quota error.
func IsQuota(err error) bool {
	var je *JSError
	return errors.As(err, &je) && je.Name == "QuotaExceededError"
}

func stringProp(v safejs.Value, p string) (string, error) {
	x, err := v.Get(p)
	if err != nil || x.Type() != safejs.TypeString {
		return "", err
	}
	return x.String()
}

// Await waits for a Promise. It must not be called from inside a JavaScript callback
// (the event loop would be blocked); call it from a goroutine.
func Await(ctx context.Context, promise safejs.Value) (safejs.Value, error) {
	type result struct {
		v   safejs.Value
		err error
	}
	ch := make(chan result, 1)
	then, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		v := safejs.Undefined()
		if len(args) > 0 {
			v = args[0]
		}
		ch <- result{v: v}
		return nil
	})
	if err != nil {
		return safejs.Undefined(), err
	}
	defer then.Release()
	catch, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		v := safejs.Undefined()
		if len(args) > 0 {
			v = args[0]
		}
		ch <- result{err: ErrorOf(v)}
		return nil
	})
	if err != nil {
		return safejs.Undefined(), err
	}
	defer catch.Release()
	if _, err := promise.Call("then", then.Value(), catch.Value()); err != nil {
		return safejs.Undefined(), err
	}
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return safejs.Undefined(), ctx.Err()
	}
}

// Bytes copies a Uint8Array or ArrayBuffer into Go.
func Bytes(v safejs.Value) ([]byte, error) {
	u8, err := Uint8ArrayOf(v)
	if err != nil {
		return nil, err
	}
	n, err := u8.Length()
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := safejs.CopyBytesToGo(b, u8); err != nil {
		return nil, err
	}
	return b, nil
}

// Uint8ArrayOf views an ArrayBuffer (or a Uint8Array) as a Uint8Array.
func Uint8ArrayOf(v safejs.Value) (safejs.Value, error) {
	u8c, err := safejs.Global().Get("Uint8Array")
	if err != nil {
		return safejs.Undefined(), err
	}
	if ok, _ := v.InstanceOf(u8c); ok {
		return v, nil
	}
	abc, err := safejs.Global().Get("ArrayBuffer")
	if err != nil {
		return safejs.Undefined(), err
	}
	if ok, _ := v.InstanceOf(abc); ok {
		return u8c.New(v)
	}
	return safejs.Undefined(), fmt.Errorf("expected bytes (ArrayBuffer or Uint8Array), got %s", v.Type())
}

// Uint8Array copies b into a new Uint8Array.
func Uint8Array(b []byte) (safejs.Value, error) {
	u8c, err := safejs.Global().Get("Uint8Array")
	if err != nil {
		return safejs.Undefined(), err
	}
	u8, err := u8c.New(len(b))
	if err != nil {
		return safejs.Undefined(), err
	}
	if _, err := safejs.CopyBytesToJS(u8, b); err != nil {
		return safejs.Undefined(), err
	}
	return u8, nil
}

// SHA256 digests a buffer (an ArrayBuffer or a view of one) with the browser's
// WebCrypto, off Go's thread and many times faster than Go's own in wasm.
func SHA256(ctx context.Context, buf safejs.Value) ([32]byte, error) {
	var sum [32]byte
	crypto, err := safejs.Global().Get("crypto")
	if err != nil {
		return sum, err
	}
	subtle, err := crypto.Get("subtle")
	if err != nil || subtle.IsUndefined() {
		return sum, fmt.Errorf("WebCrypto is not available")
	}
	p, err := subtle.Call("digest", "SHA-256", buf)
	if err != nil {
		return sum, err
	}
	d, err := Await(ctx, p)
	if err != nil {
		return sum, err
	}
	b, err := Bytes(d)
	if err != nil {
		return sum, err
	}
	copy(sum[:], b)
	return sum, nil
}

// SHA256Of digests Go bytes with WebCrypto (they are copied into a JavaScript buffer
// first: at ≈1.4 GB/s, cheaper than hashing in Go).
func SHA256Of(ctx context.Context, data []byte) ([32]byte, error) {
	u8, err := Uint8Array(data)
	if err != nil {
		return [32]byte{}, err
	}
	return SHA256(ctx, u8)
}

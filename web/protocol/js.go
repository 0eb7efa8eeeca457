//go:build !js

package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"sort"
	"strings"
)

// JavaScript renders static/protocol.js from this package: the constants and message
// types as an ES module, and a JSDoc @typedef per message and per struct a message
// holds. src is protocol.go, for the field comments.
func JavaScript(src []byte) ([]byte, error) {
	docs, err := fieldDocs(src)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("// Generated from web/protocol by `go generate ./web/protocol`. Do not edit.\n")
	b.WriteString("// The messages between the page (vqa.js), the worker (the Go runtime) and the workers\n")
	b.WriteString("// that share the image encoder: every message is {v: Version, type, ...fields}.\n\n")
	consts := map[string]any{}
	for k, v := range Constants {
		consts[k] = v
	}
	for _, m := range Messages {
		consts[reflect.TypeOf(m).Name()] = m.Type()
	}
	names := make([]string, 0, len(consts))
	for n := range consts {
		names = append(names, n)
	}
	sort.Strings(names)
	b.WriteString("export const protocol = Object.freeze({\n")
	for _, n := range names {
		v, _ := json.Marshal(consts[n])
		fmt.Fprintf(&b, "  %s: %s,\n", n, v)
	}
	b.WriteString("});\n")

	seen := map[reflect.Type]bool{}
	var queue []reflect.Type
	for _, m := range Messages {
		queue = append(queue, reflect.TypeOf(m))
	}
	for len(queue) > 0 {
		t := queue[0]
		queue = queue[1:]
		if seen[t] {
			continue
		}
		seen[t] = true
		fmt.Fprintf(&b, "\n/**\n * @typedef {object} %s\n", t.Name())
		if m, ok := reflect.Zero(t).Interface().(Message); ok {
			fmt.Fprintf(&b, " * @property {%d} v\n * @property {'%s'} type\n", Version, m.Type())
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opt := jsonName(f)
			js, nested := jsType(f.Type)
			if nested != nil {
				queue = append(queue, nested)
			}
			if opt {
				name = "[" + name + "]"
			}
			line := fmt.Sprintf(" * @property {%s} %s", js, name)
			if d := docs[t.Name()+"."+f.Name]; d != "" {
				line += " " + d
			}
			b.WriteString(line + "\n")
		}
		b.WriteString(" */\n")
	}
	return b.Bytes(), nil
}

// jsType names a Go field type in JSDoc, and returns the struct type it refers to.
func jsType(t reflect.Type) (string, reflect.Type) {
	switch {
	case t == portType:
		return "MessagePort", nil
	case t.Kind() == reflect.Pointer:
		return jsType(t.Elem())
	case t.Kind() == reflect.Struct:
		return t.Name(), t
	case t.Kind() == reflect.String:
		return "string", nil
	case t.Kind() == reflect.Bool:
		return "boolean", nil
	case t.Kind() == reflect.Map:
		v, nested := jsType(t.Elem())
		return "Object<string, " + v + ">", nested
	case t.Kind() == reflect.Slice:
		switch t.Elem().Kind() {
		case reflect.Uint8:
			return "ArrayBuffer|Uint8Array", nil
		case reflect.Float32:
			return "Float32Array", nil
		}
		v, nested := jsType(t.Elem())
		return v + "[]", nested
	default:
		return "number", nil
	}
}

// fieldDocs reads the line comments of the struct fields in src, by "Type.Field".
func fieldDocs(src []byte) (map[string]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), "protocol.go", src, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	docs := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return false
		}
		for _, fl := range st.Fields.List {
			if fl.Comment == nil {
				continue
			}
			text := strings.TrimSpace(fl.Comment.Text())
			for _, n := range fl.Names {
				docs[ts.Name.Name+"."+n.Name] = text
			}
		}
		return false
	})
	return docs, nil
}

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
	b.WriteString("export const protocol = Object.freeze({\n")
	for _, c := range constants() {
		fmt.Fprintf(&b, "  %s: %s,\n", c.name, c.value)
	}
	b.WriteString("});\n")
	for _, t := range structs() {
		fmt.Fprintf(&b, "\n/**\n * @typedef {object} %s\n", t.Name())
		if m, ok := reflect.Zero(t).Interface().(Message); ok {
			fmt.Fprintf(&b, " * @property {%d} v\n * @property {'%s'} type\n", Version, m.Type())
		}
		for _, f := range fields(t, docs) {
			name := f.name
			if f.optional {
				name = "[" + name + "]"
			}
			line := fmt.Sprintf(" * @property {%s} %s", f.jsType, name)
			if f.doc != "" {
				line += " " + f.doc
			}
			b.WriteString(line + "\n")
		}
		b.WriteString(" */\n")
	}
	return b.Bytes(), nil
}

// TypeScript renders static/protocol.d.ts, the declarations of protocol.js for
// TypeScript users: the constants with their literal types, a union type per family of
// constants (typeFamilies), and an interface per typedef.
func TypeScript(src []byte) ([]byte, error) {
	docs, err := fieldDocs(src)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("// Generated from web/protocol by `go generate ./web/protocol`. Do not edit.\n")
	b.WriteString("// Declarations for protocol.js: the messages between the page, the worker and the\n")
	b.WriteString("// workers that share the image encoder.\n\n")
	b.WriteString("export declare const protocol: Readonly<{\n")
	families := map[string][]string{}
	for _, c := range constants() {
		fmt.Fprintf(&b, "  %s: %s;\n", c.name, c.value)
		for _, fam := range typeFamilies {
			if strings.HasPrefix(c.name, fam.prefix) {
				families[fam.prefix] = append(families[fam.prefix], string(c.value))
			}
		}
	}
	b.WriteString("}>;\n")
	for _, fam := range typeFamilies {
		fmt.Fprintf(&b, "\n/** The values of protocol.%s*. */\nexport type %s = %s;\n", fam.prefix, fam.name, strings.Join(families[fam.prefix], " | "))
	}
	for _, t := range structs() {
		fmt.Fprintf(&b, "\nexport interface %s {\n", t.Name())
		if m, ok := reflect.Zero(t).Interface().(Message); ok {
			fmt.Fprintf(&b, "  v: %d;\n  type: '%s';\n", Version, m.Type())
		}
		for _, f := range fields(t, docs) {
			if f.doc != "" {
				fmt.Fprintf(&b, "  /** %s */\n", f.doc)
			}
			opt := ""
			if f.optional {
				opt = "?"
			}
			fmt.Fprintf(&b, "  %s%s: %s;\n", f.name, opt, strings.ReplaceAll(f.jsType, "Object<string, ", "Record<string, "))
		}
		b.WriteString("}\n")
	}
	return b.Bytes(), nil
}

// typeFamilies are the constants that get a union type in TypeScript, by name prefix.
var typeFamilies = []struct{ prefix, name string }{
	{"Code", "ErrorCode"}, {"Kernels", "KernelSet"}, {"Phase", "PhaseName"}, {"Storage", "StorageKind"}, {"Task", "Task"},
}

type constant struct {
	name  string
	value []byte // as JSON
}

// constants are Constants and each message's type name, sorted by name.
func constants() []constant {
	consts := map[string]any{}
	for k, v := range Constants {
		consts[k] = v
	}
	for _, m := range Messages {
		consts[reflect.TypeOf(m).Name()] = m.Type()
	}
	var out []constant
	for n, v := range consts {
		j, _ := json.Marshal(v)
		out = append(out, constant{n, j})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// structs are the message types and the struct types they hold, messages first.
func structs() []reflect.Type {
	seen := map[reflect.Type]bool{}
	var queue, out []reflect.Type
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
		out = append(out, t)
		for i := 0; i < t.NumField(); i++ {
			if _, nested := jsType(t.Field(i).Type); nested != nil {
				queue = append(queue, nested)
			}
		}
	}
	return out
}

type field struct {
	name, jsType, doc string
	optional          bool
}

func fields(t reflect.Type, docs map[string]string) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opt := jsonName(f)
		js, _ := jsType(f.Type)
		out = append(out, field{name: name, jsType: js, doc: docs[t.Name()+"."+f.Name], optional: opt})
	}
	return out
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

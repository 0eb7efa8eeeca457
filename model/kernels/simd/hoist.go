//go:build !js

package simd

import (
	"fmt"
	"sort"
	"strings"
)

// hoistConstants gives each distinct non-zero v128.const inside a loop of a function a
// local of that function, set once before its first instruction, and reads the local
// in the loop instead.
//
// V8 (TurboFan on x64) builds a v128.const where it is used, every time it runs: three
// instructions (movq, vmovq, vpunpcklqdq) or a load through a scalar register. The
// softmax's exp2 has nine in a loop of some twenty instructions. A local set once stays
// in a register, or spills to the stack and costs one load. kernels.wat keeps its
// constants where they are read; this runs on what is assembled.
func hoistConstants(src string) (string, error) {
	code := blankComments(src)
	match, err := matchParens(code)
	if err != nil {
		return "", err
	}
	var edits []textEdit
	depth := 0
	for i := 0; i < len(code); i++ {
		switch code[i] {
		case '(':
			depth++
			if depth == 2 && head(code, i) == "func" {
				edits = append(edits, hoistIn(src, code, match, i)...)
				i = match[i]
				depth--
			}
		case ')':
			depth--
		}
	}
	sort.Slice(edits, func(a, b int) bool { return edits[a].at > edits[b].at })
	for _, e := range edits {
		src = src[:e.at] + e.text + src[e.end:]
	}
	return src, nil
}

// textEdit replaces src[at:end] with text.
type textEdit struct {
	at, end int
	text    string
}

// hoistIn returns the edits that hoist the constants of the function opening at fn.
func hoistIn(src, code string, match map[int]int, fn int) []textEdit {
	var edits []textEdit
	names := map[string]string{} // constant, normalised → its local
	var order []string
	first := -1 // the function's first instruction
	var stack []string
	for i := fn + 1; i < match[fn]; i++ {
		switch code[i] {
		case '(':
			h := head(code, i)
			if len(stack) == 0 && first < 0 && h != "param" && h != "result" && h != "local" && h != "export" && h != "type" {
				first = i
			}
			if h == "v128.const" && inLoop(stack) && !isZero(code[i:match[i]+1]) {
				c := strings.Join(strings.Fields(code[i:match[i]+1]), " ")
				name, ok := names[c]
				if !ok {
					name = fmt.Sprintf("$hoisted%d", len(order))
					names[c] = name
					order = append(order, c)
				}
				edits = append(edits, textEdit{i, match[i] + 1, "(local.get " + name + ")"})
				i = match[i]
				continue
			}
			stack = append(stack, h)
		case ')':
			stack = stack[:len(stack)-1]
		}
	}
	if len(order) == 0 || first < 0 {
		return nil
	}
	indent := first - strings.LastIndexByte(src[:first], '\n') - 1
	pad := "\n" + strings.Repeat(" ", indent)
	var b strings.Builder
	b.WriteString(";; constants hoisted out of its loops (hoistConstants)")
	for _, c := range order {
		b.WriteString(pad + "(local " + names[c] + " v128)")
	}
	for _, c := range order {
		b.WriteString(pad + "(local.set " + names[c] + " " + c + ")")
	}
	b.WriteString(pad)
	return append(edits, textEdit{first, first, b.String()})
}

func inLoop(stack []string) bool {
	for _, h := range stack {
		if h == "loop" {
			return true
		}
	}
	return false
}

// isZero reports a constant whose lanes are all written 0: V8 builds that one with a
// single xor.
func isZero(c string) bool {
	f := strings.Fields(strings.Trim(c, "()"))
	for _, v := range f[2:] {
		if v != "0" {
			return false
		}
	}
	return true
}

// head is the keyword after the '(' at i.
func head(code string, i int) string {
	j := i + 1
	for j < len(code) && !strings.ContainsRune(" \t\n()", rune(code[j])) {
		j++
	}
	return code[i+1 : j]
}

// blankComments is src with its comments (";; …" and "(; … ;)") and strings blanked
// out, offsets unchanged.
func blankComments(src string) string {
	b := []byte(src)
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == ';' && i+1 < len(b) && b[i+1] == ';':
			for ; i < len(b) && b[i] != '\n'; i++ {
				b[i] = ' '
			}
		case b[i] == '(' && i+1 < len(b) && b[i+1] == ';':
			end := strings.Index(src[i:], ";)")
			if end < 0 {
				end = len(b) - i - 2
			}
			for j := i; j < i+end+2; j++ {
				if b[j] != '\n' {
					b[j] = ' '
				}
			}
			i += end + 1
		case b[i] == '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				b[i] = ' '
			}
		}
	}
	return string(b)
}

// matchParens maps each '(' of code to its ')'.
func matchParens(code string) (map[int]int, error) {
	match := map[int]int{}
	var open []int
	for i := 0; i < len(code); i++ {
		switch code[i] {
		case '(':
			open = append(open, i)
		case ')':
			if len(open) == 0 {
				return nil, fmt.Errorf("kernels: unbalanced ')' at byte %d", i)
			}
			match[open[len(open)-1]] = i
			open = open[:len(open)-1]
		}
	}
	if len(open) > 0 {
		return nil, fmt.Errorf("kernels: unclosed '(' at byte %d", open[len(open)-1])
	}
	return match, nil
}

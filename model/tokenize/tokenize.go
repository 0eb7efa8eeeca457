// Package tokenize turns a question into GIT's prompt ids and generated ids back into
// an answer, exactly as transformers' BertTokenizer (uncased) does: lower-casing,
// accent stripping, punctuation and CJK splitting and WordPiece come from
// github.com/sugarme/tokenizer, built from an in-memory vocab.txt so it works in the
// browser; the decoding rules are transformers' own.
package tokenize

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/sugarme/tokenizer"
	"github.com/sugarme/tokenizer/model"
	"github.com/sugarme/tokenizer/model/wordpiece"
	"github.com/sugarme/tokenizer/pretokenizer"
)

// BERT's special tokens.
const (
	PadToken  = "[PAD]"
	UnkToken  = "[UNK]"
	ClsToken  = "[CLS]"
	SepToken  = "[SEP]"
	MaskToken = "[MASK]"
)

var specialTokens = []string{PadToken, UnkToken, ClsToken, SepToken, MaskToken}

// ErrTooLong is wrapped by the error for text over MaxQuestionBytes.
var ErrTooLong = errors.New("question too long")

// MaxQuestionBytes bounds what Encode reads; longer text gets an error rather than
// minutes of tokenizing. Any question that fits a 1024-position model is far shorter.
const MaxQuestionBytes = 64 << 10

// Tokenizer is a BERT uncased WordPiece tokenizer.
type Tokenizer struct {
	tk      *tokenizer.Tokenizer
	vocab   []string // id → token
	special map[int]bool
	ids     model.Vocab // token → id
	cls     int
}

// New builds a tokenizer from the content of a vocab.txt (one token per line, the
// line number is the id).
func New(vocabTxt []byte) (*Tokenizer, error) {
	vocab := model.Vocab{}
	var byID []string
	sc := bufio.NewScanner(bytes.NewReader(vocabTxt))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		tok := strings.TrimRight(sc.Text(), "\r")
		vocab[tok] = len(byID) // a repeated token keeps its last id, as transformers does
		byID = append(byID, tok)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("vocab.txt: %w", err)
	}
	t := &Tokenizer{vocab: byID, special: map[int]bool{}}
	for _, s := range specialTokens {
		id, ok := vocab[s]
		if !ok {
			return nil, fmt.Errorf("vocab.txt has no %s token: not a BERT vocabulary", s)
		}
		t.special[id] = true
	}
	t.cls = vocab[ClsToken]
	wp := wordpiece.NewWordPieceBuilder().Vocab(&vocab).UnkToken(UnkToken).
		ContinuingSubwordPrefix("##").MaxInputCharsPerWord(100).Build()
	t.tk = tokenizer.NewTokenizer(wp)
	t.tk.WithPreTokenizer(pretokenizer.NewBertPreTokenizer())
	t.ids = vocab
	return t, nil
}

// splitSpecial cuts text at the special tokens typed in it, spelled exactly (as
// transformers' added-tokens trie matches them: case-sensitive, before lower-casing),
// and strips the spaces around each, as its slow and fast BERT tokenizers do. Pieces
// alternate: plain text (possibly empty), a special token, plain text, …
func splitSpecial(text string) []string {
	var out []string
	for {
		at, tok := len(text), ""
		for _, s := range specialTokens {
			if i := strings.Index(text, s); i >= 0 && i < at {
				at, tok = i, s
			}
		}
		if tok == "" {
			return append(out, text)
		}
		out = append(out, strings.TrimRightFunc(text[:at], unicode.IsSpace), tok)
		text = strings.TrimLeftFunc(text[at+len(tok):], unicode.IsSpace)
	}
}

// normalizePlain is BertTokenizer's basic clean-up, done here rather than by sugarme's
// BertNormalizer, whose offset bookkeeping panics on text such as "é\u0301" and
// which strips accents without decomposing first: drop NUL, U+FFFD and control
// characters, turn whitespace into spaces, space out CJK ideographs, lower-case,
// decompose (NFD) and drop combining marks.
func normalizePlain(text string) string {
	var b strings.Builder
	for _, r := range text {
		switch {
		case r == 0 || r == 0xFFFD || isControl(r):
		case isWhitespace(r):
			b.WriteByte(' ')
		case isCJK(r):
			b.WriteString(" " + string(r) + " ")
		default:
			b.WriteRune(r)
		}
	}
	var out strings.Builder
	for _, r := range norm.NFD.String(strings.ToLower(b.String())) {
		if !unicode.Is(unicode.Mn, r) {
			out.WriteRune(r)
		}
	}
	return out.String()
}

// isWhitespace, isControl and isCJK follow tokenization_bert.py.
func isWhitespace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || unicode.Is(unicode.Zs, r)
}

func isControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	// Python's category "C*": Cc, Cf, Co, Cs and unassigned code points.
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs) ||
		!unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.C)
}

func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) || (r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

// VocabSize is the number of ids.
func (t *Tokenizer) VocabSize() int { return len(t.vocab) }

// Tokenize returns the WordPiece tokens and ids of text, without special tokens.
func (t *Tokenizer) Tokenize(text string) (tokens []string, ids []int, err error) {
	if len(text) > MaxQuestionBytes {
		return nil, nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrTooLong, len(text), MaxQuestionBytes)
	}
	// Browsers hand over UTF-16 that may hold lone surrogates; Python would see U+FFFD.
	text = strings.ToValidUTF8(text, "\uFFFD")
	defer func() {
		if r := recover(); r != nil {
			tokens, ids, err = nil, nil, fmt.Errorf("tokenizer failed on this text: %v", r)
		}
	}()
	for i, piece := range splitSpecial(text) {
		if i%2 == 1 { // a special token, whole
			tokens, ids = append(tokens, piece), append(ids, t.ids[piece])
			continue
		}
		plain := normalizePlain(piece)
		if strings.TrimSpace(plain) == "" {
			continue
		}
		enc, err := t.tk.EncodeSingle(plain, false)
		if err != nil {
			return nil, nil, fmt.Errorf("tokenizer: %w", err)
		}
		tokens, ids = append(tokens, enc.Tokens...), append(ids, enc.Ids...)
	}
	return tokens, ids, nil
}

// Prompt is GIT's VQA prompt: [CLS] followed by the question's tokens, no [SEP].
func (t *Tokenizer) Prompt(question string) ([]int, error) {
	_, ids, err := t.Tokenize(question)
	if err != nil {
		return nil, err
	}
	return append([]int{t.cls}, ids...), nil
}

// Token returns the vocabulary entry of id ("[UNK]" outside the vocabulary).
func (t *Tokenizer) Token(id int) string {
	if id < 0 || id >= len(t.vocab) {
		return UnkToken
	}
	return t.vocab[id]
}

// Decode is transformers' tokenizer.decode(ids, skip_special_tokens=True) with its
// default clean-up of tokenization spaces.
func (t *Tokenizer) Decode(ids []int) string {
	var toks []string
	for _, id := range ids {
		if t.special[id] {
			continue
		}
		toks = append(toks, t.Token(id))
	}
	s := strings.TrimSpace(strings.ReplaceAll(strings.Join(toks, " "), " ##", ""))
	return cleanUp.Replace(s)
}

// cleanUp is transformers' clean_up_tokenization, applied in its order.
var cleanUp = sequentialReplacer{
	{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
	{" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
}

// sequentialReplacer applies str.replace calls one after another, as Python's chained
// .replace() does (strings.Replacer would apply them in one pass, which differs).
type sequentialReplacer [][2]string

func (r sequentialReplacer) Replace(s string) string {
	for _, p := range r {
		s = strings.ReplaceAll(s, p[0], p[1])
	}
	return s
}

package tokenize

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf8"
)

const fixtures = "../../testdata/tiny"

func load(t testing.TB) *Tokenizer {
	t.Helper()
	v, err := os.ReadFile(filepath.Join(fixtures, "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	tk, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

type fixtureCase struct {
	Name           string   `json:"name"`
	Question       string   `json:"question"`
	QuestionTokens []string `json:"question_tokens"`
	InputIDs       []int    `json:"input_ids"`
	GeneratedIDs   []int    `json:"generated_ids"`
	Answer         string   `json:"answer"`
	FullDecoded    string   `json:"full_decoded"`
}

func cases(t testing.TB) []fixtureCase {
	b, err := os.ReadFile(filepath.Join(fixtures, "cases", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct{ Cases []fixtureCase }
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Cases) == 0 {
		t.Fatal("no cases")
	}
	return idx.Cases
}

func TestPromptMatchesFixtures(t *testing.T) {
	tk := load(t)
	for _, c := range cases(t) {
		ids, err := tk.Prompt(c.Question)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if !reflect.DeepEqual(ids, c.InputIDs) {
			t.Errorf("%s: prompt %v, want %v", c.Name, ids, c.InputIDs)
		}
		toks, _, _ := tk.Tokenize(c.Question)
		if !reflect.DeepEqual(append([]string{"[CLS]"}, toks...), c.QuestionTokens) {
			t.Errorf("%s: tokens %q, want %q", c.Name, toks, c.QuestionTokens)
		}
	}
}

func TestDecodeMatchesFixtures(t *testing.T) {
	tk := load(t)
	for _, c := range cases(t) {
		if got := tk.Decode(c.GeneratedIDs); got != c.Answer {
			t.Errorf("%s: answer %q, want %q", c.Name, got, c.Answer)
		}
		full := append(append([]int{}, c.InputIDs...), c.GeneratedIDs...)
		if got := tk.Decode(full); got != c.FullDecoded {
			t.Errorf("%s: full %q, want %q", c.Name, got, c.FullDecoded)
		}
	}
}

// Behaviour of transformers' BertTokenizer checked by hand against its source.
func TestTokenizeRules(t *testing.T) {
	tk := load(t)
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"   \t\n", nil},
		{"What's THAT?", []string{"what", "'", "s", "that", "?"}},
		{"is it [MASK]?", []string{"is", "it", "[MASK]", "?"}},         // special tokens stay whole
		{"is it [mask]?", []string{"is", "it", "[", "mask", "]", "?"}}, // only the exact spelling is special
		{"[SEP] [CLS]", []string{"[SEP]", "[CLS]"}},                    // one after another, first included
		{"a[SEP]b  [PAD]", []string{"a", "[SEP]", "b", "[PAD]"}},       // spaces around them dropped
		{"[UNK]", []string{"[UNK]"}},
		{"Ünïcödé", []string{"unicode"}},
		{"東京", []string{"東", "京"}},
		{"a\u0000b\u200bc", []string{"abc"}}, // control and format characters are dropped
		{"x\xffy", []string{"x", "##y"}},     // invalid UTF-8 reads as U+FFFD, which BERT drops
	} {
		got, _, err := tk.Tokenize(c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
	}
	long := make([]byte, 101)
	for i := range long {
		long[i] = 'a'
	}
	got, _, _ := tk.Tokenize(string(long))
	if !reflect.DeepEqual(got, []string{"[UNK]"}) {
		t.Errorf("a 101-character word: %q, want [UNK]", got)
	}
}

func TestDecodeCleanUp(t *testing.T) {
	tk := load(t)
	ids := func(words ...string) []int {
		var out []int
		for _, w := range words {
			_, id, _ := tk.Tokenize(w)
			out = append(out, id...)
		}
		return out
	}
	if got := tk.Decode(ids("it", "is", "n't", "red", ".")); got != "it isn't red." {
		t.Errorf("got %q", got)
	}
	if got := tk.Decode([]int{101, 102, 0, 103, 100}); got != "" {
		t.Errorf("special ids only: %q", got)
	}
	if got := tk.Decode([]int{-1, 99999}); got != "[UNK] [UNK]" {
		t.Errorf("ids outside the vocabulary: %q", got)
	}
}

func TestRejectsHugeQuestion(t *testing.T) {
	tk := load(t)
	if _, err := tk.Prompt(string(make([]byte, MaxQuestionBytes+1))); err == nil {
		t.Fatal("no error for an oversized question")
	}
}

func TestBadVocab(t *testing.T) {
	if _, err := New([]byte("hello\nworld\n")); err == nil {
		t.Fatal("a vocabulary without BERT's special tokens was accepted")
	}
}

func FuzzTokenize(f *testing.F) {
	tk := load(f)
	for _, s := range []string{"what color is the car?", "Où est le café — naïve 東京 cup?", "", "[SEP][CLS]x", "\xff\xfe", "a\u0301\u0301"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks, ids, err := tk.Tokenize(s)
		if err != nil {
			if len(s) <= MaxQuestionBytes {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if len(toks) != len(ids) {
			t.Fatalf("%q: %d tokens, %d ids", s, len(toks), len(ids))
		}
		for i, id := range ids {
			if id < 0 || id >= tk.VocabSize() || tk.Token(id) != toks[i] {
				t.Fatalf("%q: token %q has id %d", s, toks[i], id)
			}
		}
		if d := tk.Decode(ids); !utf8.ValidString(d) {
			t.Fatalf("%q decodes to invalid UTF-8 %q", s, d)
		}
	})
}

func TestCombiningMarksAfterRemovedCharacters(t *testing.T) {
	tk := load(t)
	for in, want := range map[string][]string{
		"\u0301":        nil,
		"\ufffd\u0301":  nil,
		"\u0000\u0301x": {"x"},
		"café\u0301":    {"cafe"},
	} {
		got, _, err := tk.Tokenize(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

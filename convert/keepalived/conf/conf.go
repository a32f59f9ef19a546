package conf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Pos is where a directive was written: a file and a line counted from 1.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Directive is one keyword with its arguments and, when a '{' follows it, the block it opens.
type Directive struct {
	Pos
	// Words are the keyword and its arguments, quotes removed and escapes resolved: a quoted
	// string is one word, spaces and all.
	Words []string
	// HasBlock is true when the directive opens a block, even an empty one.
	HasBlock bool
	Block    []*Directive
}

// Keyword is the directive's first word.
func (d *Directive) Keyword() string { return d.Words[0] }

// Args are the words after the keyword.
func (d *Directive) Args() []string { return d.Words[1:] }

// Warning is something keepalived reads without complaint that a reader should still hear about.
type Warning struct {
	Pos
	Text string
	// Missing is an include that matched no file: keepalived goes on without it, but what it
	// held is not in the configuration.
	Missing bool
}

// Options are what keepalived takes from its command line.
type Options struct {
	// ConfigID is keepalived's -i/--config-id: the word '@' lines are compared with, and
	// ${_INSTANCE}. keepalived defaults it to the host name without its domain.
	ConfigID string
	// Root is prepended to absolute include paths: the directory that stands for the node's /
	// when its files are converted on another machine. Empty: /.
	Root string
}

// Config is a parsed configuration.
type Config struct {
	Directives []*Directive
	Warnings   []Warning
	// Files are the files read, the main one first, in the order keepalived reads them.
	Files []string
}

// Limits that keep a looping configuration from hanging the reader.
const (
	maxIncludeDepth = 32
	maxExpansions   = 64 // substitution rounds of one line
	maxLineLength   = 1 << 20
	// maxExpanded bounds what substitutions produce in all: definitions that each expand to two
	// of the one before grow twice per definition, and 40 of them in a 1 KB file ran out of memory.
	maxExpanded = 2 << 20
)

// Parse reads the configuration at path and every file it includes.
func Parse(path string, opts Options) (*Config, error) {
	r := &reader{opts: opts, vars: map[string]string{}}
	if err := r.file(path); err != nil {
		return nil, err
	}
	dirs, err := build(r.lines)
	if err != nil {
		return nil, err
	}
	return &Config{Directives: dirs, Warnings: r.warnings, Files: r.files}, nil
}

// line is one line on its way through conditionals and substitution.
type line struct {
	pos   Pos
	dir   string // the directory of its file, for relative includes and ${_PWD}
	text  string
	depth int // substitution rounds so far
}

// token is a word or a brace; a quoted "{" is a word.
type token struct {
	text  string
	brace bool
}

type tokenLine struct {
	pos    Pos
	tokens []token
}

type reader struct {
	opts     Options
	vars     map[string]string
	lines    []tokenLine
	warnings []Warning
	files    []string
	open     []string // absolute paths of the files being read, to refuse include loops
	expanded int      // bytes the substitutions produced, up to maxExpanded
}

var includeKeywords = []string{"include", "includer", "includem", "includew", "includeb", "includea"}

// file reads one file, line by line in keepalived's order: comments, '@', definitions, then
// substitution, whose result goes through '@' and definitions again (that is how
// `$IF_MAIN=@main` works), and last include lines: keepalived 2.2.7 opens `include ${D}/a.conf`
// and `@a include a.conf` (with -i a) after both.
func (r *reader) file(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if slices.Contains(r.open, abs) {
		return fmt.Errorf("reading %s: it includes itself", path)
	}
	if len(r.open) >= maxIncludeDepth {
		return fmt.Errorf("reading %s: includes nested deeper than %d", path, maxIncludeDepth)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading keepalived configuration: %w", err)
	}
	r.files = append(r.files, path)
	r.open = append(r.open, abs)
	defer func() { r.open = r.open[:len(r.open)-1] }()

	raw := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	// The lines still to read, the next one last: what a substitution expands to goes in front of
	// the rest without moving it.
	queue := make([]line, 0, len(raw))
	for i := len(raw) - 1; i >= 0; i-- {
		queue = append(queue, line{pos: Pos{File: path, Line: i + 1}, dir: filepath.Dir(abs), text: stripComment(raw[i])})
	}
	for len(queue) > 0 {
		l := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		text, keep := r.conditional(strings.TrimSpace(l.text))
		if !keep || text == "" {
			continue
		}
		if strings.HasPrefix(text, "~SEQ") || strings.HasPrefix(text, "~LST") {
			return fmt.Errorf("%s: %s: keepalived's sequence and list expansion is not supported: write the lines out", l.pos, text[:4])
		}
		if name, value, ok := definition(text); ok {
			if strings.TrimSpace(value) == `\` {
				value, queue = multiline(queue)
			}
			r.vars[name] = value
			continue
		}
		expanded, changed, err := r.substitute(text, l)
		if err != nil {
			return fmt.Errorf("%s: %w", l.pos, err)
		}
		if changed {
			if len(expanded) > maxLineLength {
				return fmt.Errorf("%s: parameters expand to more than %d bytes", l.pos, maxLineLength)
			}
			if r.expanded += len(expanded); r.expanded > maxExpanded {
				return fmt.Errorf("%s: parameters expand to more than %d bytes in all", l.pos, maxExpanded)
			}
			if l.depth >= maxExpansions {
				return fmt.Errorf("%s: parameters still expand after %d rounds: a parameter refers to itself", l.pos, maxExpansions)
			}
			more := strings.Split(expanded, "\n")
			for i := len(more) - 1; i >= 0; i-- {
				queue = append(queue, line{pos: l.pos, dir: l.dir, text: more[i], depth: l.depth + 1})
			}
			continue
		}
		if kw, pattern, ok, err := includeLine(text); err != nil {
			return fmt.Errorf("%s: %w", l.pos, err)
		} else if ok {
			if err := r.include(l, kw, pattern); err != nil {
				return err
			}
			continue
		}
		tokens, err := tokenize(text)
		if err != nil {
			return fmt.Errorf("%s: %w", l.pos, err)
		}
		r.lines = append(r.lines, tokenLine{pos: l.pos, tokens: tokens})
	}
	return nil
}

// includeLine recognises `include FILE` and its variants.
func includeLine(text string) (keyword, pattern string, ok bool, err error) {
	fields := strings.Fields(text)
	if len(fields) == 0 || !slices.Contains(includeKeywords, fields[0]) {
		return "", "", false, nil
	}
	// A pattern's braces are glob braces, not blocks: only quotes are words' business here.
	if len(fields) == 2 && !strings.ContainsAny(fields[1], `"'`) {
		return fields[0], fields[1], true, nil
	}
	tokens, err := tokenize(strings.TrimSpace(text))
	if err != nil {
		return "", "", false, err
	}
	if len(tokens) != 2 || tokens[1].brace {
		return "", "", false, fmt.Errorf("%s takes one file name or pattern", fields[0])
	}
	return fields[0], tokens[1].text, true, nil
}

// include reads the files a pattern matches, in glob order, relative to the including file.
// Plain include accepts a pattern that matches nothing, as keepalived does, with a Missing
// warning; the variants with checks do not. Absolute patterns are under Options.Root.
func (r *reader) include(l line, keyword, pattern string) error {
	absolute := filepath.IsAbs(pattern)
	switch {
	case !filepath.IsAbs(pattern):
		pattern = filepath.Join(l.dir, pattern)
	case r.opts.Root != "":
		pattern = filepath.Join(r.opts.Root, pattern)
	}
	patterns, ok := expandBraces(pattern, maxPatterns)
	if !ok {
		return fmt.Errorf("%s: %s %s: its braces make more than %d patterns", l.pos, keyword, pattern, maxPatterns)
	}
	var matches []string
	for _, p := range patterns {
		m, err := filepath.Glob(p)
		if err != nil {
			return fmt.Errorf("%s: %s %s: %w", l.pos, keyword, pattern, err)
		}
		for _, f := range m {
			if !slices.Contains(matches, f) {
				matches = append(matches, f)
			}
		}
	}
	if len(matches) == 0 {
		if keyword != "include" {
			return fmt.Errorf("%s: %s %s matches no file", l.pos, keyword, pattern)
		}
		hint := ""
		if r.opts.Root == "" && absolute {
			hint = " (an absolute path is looked up on this machine: --root DIR reads it under DIR)"
		}
		r.warnings = append(r.warnings, Warning{Pos: l.pos, Missing: true, Text: fmt.Sprintf("include %s matches no file%s: keepalived goes on without it, and what it holds is not converted", pattern, hint)})
		return nil
	}
	for _, m := range matches {
		if err := r.file(m); err != nil {
			return fmt.Errorf("%s: %w", l.pos, err)
		}
	}
	return nil
}

// maxPatterns bounds what an include's braces expand to: each group multiplies the patterns, and
// twenty groups of two are a million globs.
const maxPatterns = 1024

// expandBraces expands csh-style braces, "{a,b}c" to "ac" and "bc", as keepalived's glob() does;
// false when that makes more than limit patterns.
func expandBraces(p string, limit int) ([]string, bool) {
	depth, open := 0, -1
	for i, c := range p {
		switch c {
		case '{':
			if depth == 0 {
				open = i
			}
			depth++
		case '}':
			if depth == 0 {
				continue
			}
			depth--
			if depth > 0 {
				continue
			}
			var alts []string
			d, start := 0, open+1
			for j := open + 1; j < i; j++ {
				switch p[j] {
				case '{':
					d++
				case '}':
					d--
				case ',':
					if d == 0 {
						alts = append(alts, p[start:j])
						start = j + 1
					}
				}
			}
			alts = append(alts, p[start:i])
			var out []string
			for _, a := range alts {
				more, ok := expandBraces(p[:open]+a+p[i+1:], limit-len(out))
				if !ok {
					return nil, false
				}
				out = append(out, more...)
			}
			return out, true
		}
	}
	return []string{p}, limit >= 1
}

// conditional applies an '@id' or '@^id' prefix.
func (r *reader) conditional(text string) (string, bool) {
	if !strings.HasPrefix(text, "@") {
		return text, true
	}
	id, rest := text[1:], ""
	if i := strings.IndexAny(text, " \t"); i >= 0 {
		id, rest = text[1:i], text[i:]
	}
	keep := id == r.opts.ConfigID
	if neg, ok := strings.CutPrefix(id, "^"); ok {
		keep = neg != r.opts.ConfigID
	}
	return strings.TrimSpace(rest), keep
}

var definitionPattern = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)=(.*)$`)

// definition recognises `$NAME=value`: no space before '=', only white space before '$'.
func definition(text string) (name, value string, ok bool) {
	m := definitionPattern.FindStringSubmatch(text)
	if m == nil {
		return "", "", false
	}
	return m[1], strings.TrimSpace(m[2]), true
}

// multiline takes the lines of a multi-line definition off the queue: each but the last ends in
// '\'.
func multiline(queue []line) (string, []line) {
	var parts []string
	for len(queue) > 0 {
		next := strings.TrimRight(queue[len(queue)-1].text, " \t")
		queue = queue[:len(queue)-1]
		if body, more := strings.CutSuffix(next, `\`); more {
			parts = append(parts, body)
			continue
		}
		parts = append(parts, next)
		break
	}
	return strings.Join(parts, "\n"), queue
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// substitute replaces ${NAME} anywhere and $NAME before white space or the end of the line;
// parameters not defined stay as written (keepalived.conf(5), "Parameter substitution").
func (r *reader) substitute(text string, l line) (string, bool, error) {
	var b strings.Builder
	changed := false
	for i := 0; i < len(text); {
		if text[i] != '$' {
			b.WriteByte(text[i])
			i++
			continue
		}
		if i+1 < len(text) && text[i+1] == '{' {
			if end := strings.IndexByte(text[i+2:], '}'); end >= 0 {
				v, ok, err := r.lookup(text[i+2:i+2+end], l)
				if err != nil {
					return "", false, err
				}
				if ok {
					b.WriteString(v)
					i += end + 3
					changed = true
					continue
				}
			}
		} else {
			j := i + 1
			for j < len(text) && isNameByte(text[j]) {
				j++
			}
			if j > i+1 && (j == len(text) || text[j] == ' ' || text[j] == '\t') {
				v, ok, err := r.lookup(text[i+1:j], l)
				if err != nil {
					return "", false, err
				}
				if ok {
					b.WriteString(v)
					i = j
					changed = true
					continue
				}
			}
		}
		b.WriteByte('$')
		i++
	}
	return b.String(), changed, nil
}

// ErrRandom is returned for ${_RANDOM}: a conversion must give the same result every time.
var ErrRandom = errors.New("${_RANDOM} has no fixed value to convert")

// lookup returns a parameter's value, the pre-defined ones included.
func (r *reader) lookup(name string, l line) (string, bool, error) {
	switch {
	case name == "_PWD":
		return l.dir, true, nil
	case name == "_INSTANCE":
		return r.opts.ConfigID, true, nil
	case name == "_HASH":
		return "#", true, nil
	case name == "_RANDOM" || strings.HasPrefix(name, "_RANDOM "):
		return "", false, ErrRandom
	}
	v, ok := r.vars[name]
	return v, ok, nil
}

// stripComment cuts a line at the first '#' or '!' outside quotes.
func stripComment(s string) string {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == '\\':
			i++
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' || c == '!':
			return s[:i]
		}
	}
	return s
}

// tokenize splits a line into words and braces; keepalived splits at a brace outside quotes
// anywhere, so that "150}" closes a block and an undefined "${X}" is four tokens. Quotes (" or ')
// may start anywhere in a word and keep their white space; inside them, escapes are resolved as
// by the shell's $'...' (keepalived.conf(5), "Quoted strings").
func tokenize(s string) ([]token, error) {
	var tokens []token
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			return tokens, nil
		}
		if s[i] == '{' || s[i] == '}' {
			tokens = append(tokens, token{text: s[i : i+1], brace: true})
			i++
			continue
		}
		var b strings.Builder
		for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '{' && s[i] != '}' {
			c := s[i]
			if c != '"' && c != '\'' {
				b.WriteByte(c)
				i++
				continue
			}
			end, err := quoted(s, i, &b)
			if err != nil {
				return nil, err
			}
			i = end
		}
		tokens = append(tokens, token{text: b.String()})
	}
}

// quoted writes the quoted string starting at s[start] and returns the index after its closing
// quote.
func quoted(s string, start int, b *strings.Builder) (int, error) {
	q := s[start]
	for i := start + 1; i < len(s); i++ {
		c := s[i]
		if c == q {
			return i + 1, nil
		}
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := s[i]; e {
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'E', 'e':
			b.WriteByte(0x1b)
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case 'c':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i] & 0x1f)
			}
		case 'x':
			v, n := 0, 0
			for n < 2 && i+1 < len(s) && isHex(s[i+1]) {
				i++
				v = v*16 + hexValue(s[i])
				n++
			}
			if n == 0 {
				b.WriteByte('x')
			} else {
				b.WriteByte(byte(v))
			}
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := int(e - '0')
			for n := 1; n < 3 && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '7'; n++ {
				i++
				v = v*8 + int(s[i]-'0')
			}
			b.WriteByte(byte(v))
		default:
			b.WriteByte(e)
		}
	}
	return 0, fmt.Errorf("unterminated quoted string %s", s[start:])
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexValue(c byte) int {
	switch {
	case c >= 'a':
		return int(c-'a') + 10
	case c >= 'A':
		return int(c-'A') + 10
	}
	return int(c - '0')
}

// build nests directives into blocks: a '{' opens a block for the directive before it on the
// same line, or, on a line of its own, for the directive of the line before.
func build(lines []tokenLine) ([]*Directive, error) {
	type frame struct {
		owner *Directive
		list  *[]*Directive
	}
	var top []*Directive
	stack := []frame{{list: &top}}
	var last *Directive // the last directive of the current block, for a '{' on its own line
	for _, l := range lines {
		var cur *Directive
		flush := func() {
			if cur != nil {
				f := stack[len(stack)-1]
				*f.list = append(*f.list, cur)
				last, cur = cur, nil
			}
		}
		for _, t := range l.tokens {
			switch {
			case !t.brace:
				if cur == nil {
					cur = &Directive{Pos: l.pos}
				}
				cur.Words = append(cur.Words, t.text)
			case t.text == "{":
				owner := cur
				if owner != nil {
					flush()
				} else if last != nil && !last.HasBlock {
					owner = last
				} else {
					return nil, fmt.Errorf("%s: '{' opens a block without a keyword", l.pos)
				}
				owner.HasBlock = true
				stack = append(stack, frame{owner: owner, list: &owner.Block})
				last = nil
			default: // "}"
				flush()
				if len(stack) == 1 {
					return nil, fmt.Errorf("%s: '}' closes no block", l.pos)
				}
				last = stack[len(stack)-1].owner
				stack = stack[:len(stack)-1]
			}
		}
		flush()
	}
	if len(stack) > 1 {
		o := stack[len(stack)-1].owner
		return nil, fmt.Errorf("%s: the block of %s is not closed", o.Pos, o.Keyword())
	}
	return top, nil
}

// SplitScript splits a script setting into the program and its arguments as keepalived 2.2.7
// does for notify and track scripts: unquoted white space separates, single and double quotes
// keep spaces (`/x/n.sh "a b" c` is three words), a backslash outside single quotes keeps the
// next character (keepalived.conf(5), "Quoted strings").
func SplitScript(s string) ([]string, error) {
	var args []string
	var b strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == '"' && c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case quote != 0:
			b.WriteByte(c)
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				args = append(args, b.String())
				b.Reset()
				inWord = false
			}
		default:
			b.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote in %q", quote, s)
	}
	if inWord {
		args = append(args, b.String())
	}
	return args, nil
}

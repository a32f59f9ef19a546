package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"
)

// Colours of the human output. Every code is five bytes long, and every cell of a coloured table
// is wrapped in one of them and reset, so that tabwriter, which counts the codes as text, still
// lines the columns up.
type colour string

const (
	plain  colour = "\x1b[39m"
	red    colour = "\x1b[31m"
	yellow colour = "\x1b[33m"
	green  colour = "\x1b[32m"
	bold   colour = "\x1b[01m"
	reset         = "\x1b[0m"
)

// safeWriter escapes what a terminal would act on in what it writes (see escapeControls), but the
// colour codes above. JSON and YAML output reach it escaped already (see print).
type safeWriter struct{ w io.Writer }

func terminalSafe(w io.Writer) io.Writer {
	if _, ok := w.(safeWriter); ok {
		return w
	}
	return safeWriter{w}
}

var colourCodes = []string{string(plain), string(red), string(yellow), string(green), string(bold), reset}

func (s safeWriter) Write(p []byte) (int, error) {
	var out []byte
	span := 0 // where the text since the last colour code began
	for i := 0; i < len(p); i++ {
		if p[i] != 0x1b {
			continue
		}
		if j := slices.IndexFunc(colourCodes, func(code string) bool { return strings.HasPrefix(string(p[i:]), code) }); j >= 0 {
			out = append(appendEscaped(out, p[span:i]), colourCodes[j]...)
			i += len(colourCodes[j]) - 1
			span = i + 1
		}
	}
	out = appendEscaped(out, p[span:])
	if _, err := s.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// escapeControls writes as \u00NN what a terminal would act on: the C0 controls but tab and
// newline, DEL and the C1 controls. The escape is the same in JSON and YAML strings.
func escapeControls(s string) string {
	return string(appendEscaped(nil, []byte(s)))
}

// nonCharacters are the characters besides the controls that the YAML parser refuses.
var nonCharacters = strings.NewReplacer("\uFFFE", `\ufffe`, "\uFFFF", `\uffff`)

// cellEscapes escapes what would break a table's row or columns.
var cellEscapes = strings.NewReplacer("\t", `\u0009`, "\n", `\u000a`)

func appendEscaped(out, p []byte) []byte {
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c < 0x20 && c != '\n' && c != '\t', c == 0x7f:
			out = fmt.Appendf(out, "\\u%04x", c)
		case c == 0xc2 && i+1 < len(p) && p[i+1] >= 0x80 && p[i+1] <= 0x9f: // U+0080 to U+009F
			out = fmt.Appendf(out, "\\u%04x", p[i+1])
			i++
		default:
			out = append(out, c)
		}
	}
	return out
}

// cell is one table cell and its colour.
type cell struct {
	text   string
	colour colour
}

func txt(text string) cell                 { return cell{text: text} }
func painted(col colour, text string) cell { return cell{text: text, colour: col} }

// table writes rows aligned in columns, the first row as the header.
func (a *app) table(w io.Writer, header []string, rows [][]cell) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := make([]cell, len(header))
	for i, h := range header {
		head[i] = painted(bold, h)
	}
	for _, row := range append([][]cell{head}, rows...) {
		parts := make([]string, len(row))
		for i, x := range row {
			// Escaped before the tabwriter measures the cell, so that the columns stay aligned.
			x.text = cellEscapes.Replace(escapeControls(x.text))
			parts[i] = a.paint(x)
		}
		fmt.Fprintln(tw, strings.Join(parts, "\t"))
	}
	_ = tw.Flush()
}

// paint colours one cell when the output is a terminal.
func (a *app) paint(x cell) string {
	if !a.colour {
		return x.text
	}
	return string(cmp.Or(x.colour, plain)) + x.text + reset
}

// line prints a line, coloured as a whole on a terminal.
func (a *app) line(w io.Writer, col colour, format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if a.colour && col != "" {
		s = string(col) + s + reset
	}
	fmt.Fprintln(w, s)
}

// print writes v as JSON or YAML, the -o formats for scripts.
func (a *app) print(format string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the output: %w", err)
	}
	// encoding/json leaves DEL, the C1 controls and U+FFFE and U+FFFF in strings as they are, and
	// the YAML parser refuses them: escaped as JSON escapes, the output means the same and stays
	// valid. Outside strings JSON has only its syntax, so the bytes are theirs.
	b = []byte(nonCharacters.Replace(string(appendEscaped(nil, b))))
	if format == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return fmt.Errorf("encoding the output: %w", err)
		}
		_, err = a.stdout.Write(b)
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", b)
	return err
}

// age is how long ago t was, as kubectl shows it: 5s, 3m12s, 2h5m, 3d4h.
func age(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// seconds rounds a duration for people: milliseconds.
func seconds(d time.Duration) string { return d.Round(time.Millisecond).String() }

func sortByName[T any](items []T, name func(T) string) {
	slices.SortFunc(items, func(a, b T) int { return strings.Compare(name(a), name(b)) })
}

// orDash shows an empty value as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package track

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// states folds runs ("+" passes, "-" fails) from Unknown and returns the state after each, as
// letters: P passing, F failing.
func states(runs string, rise, fall int) string {
	var res Result
	against := 0
	var out strings.Builder
	for i, r := range runs {
		res, against = fold(res, against, rise, fall, outcome{pass: r == '+'}, time.Unix(int64(i), 0))
		out.WriteString(res.State.String()[:1])
	}
	return out.String()
}

func TestRiseAndFallFollowKeepalivedsVrrpScript(t *testing.T) {
	tests := map[string]struct {
		runs       string
		rise, fall int
		want       string
	}{
		"the first passing run makes an unknown check passing":                   {runs: "+", rise: 3, fall: 3, want: "P"},
		"the first failing run makes an unknown check failing, even with fall 3": {runs: "-", rise: 3, fall: 3, want: "F"},
		"with fall 1 one failure turns a passing check failing":                  {runs: "+-", rise: 1, fall: 1, want: "PF"},
		"with fall 3 a passing check fails on the third failure in a row":        {runs: "+---", rise: 1, fall: 3, want: "PPPF"},
		"a pass between failures starts the fall count over":                     {runs: "+--+--", rise: 1, fall: 3, want: "PPPPPP"},
		"with rise 2 a failing check passes on the second pass in a row":         {runs: "-++", rise: 2, fall: 1, want: "FFP"},
		"a failure between passes starts the rise count over":                    {runs: "-+-+-+", rise: 2, fall: 1, want: "FFFFFF"},
		"rise and fall count only against the state, not before it changed":      {runs: "+--+++---", rise: 2, fall: 2, want: "PPFFPPPFF"},
		"a flapping check with rise and fall 1 follows every run":                {runs: "+-+-", rise: 1, fall: 1, want: "PFPF"},
		"rise and fall below 1 count as 1":                                       {runs: "+-+", rise: 0, fall: -1, want: "PFP"},
		"a long passing streak does not store up failures to absorb":             {runs: "+++++--", rise: 1, fall: 2, want: "PPPPPPF"},
		"after a change the count starts from zero in the new state":             {runs: "+--++-", rise: 1, fall: 2, want: "PPFPPP"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := states(tc.runs, tc.rise, tc.fall); got != tc.want {
				t.Errorf("runs %s with rise %d fall %d: states %s, want %s", tc.runs, tc.rise, tc.fall, got, tc.want)
			}
		})
	}
}

func TestSinceAndMessageChangeOnlyWithTheState(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	type run struct {
		pass bool
		msg  string
	}
	runs := []run{
		{true, "ok 1"},       // 0: Unknown -> Passing
		{true, "ok 2"},       // 1: stays
		{false, "broken 1"},  // 2: first failure of fall 2
		{false, "broken 2"},  // 3: -> Failing
		{false, "broken 3"},  // 4: stays
		{true, "back"},       // 5: -> Passing (rise 1)
		{true, "still fine"}, // 6: stays
	}
	want := []Result{
		{State: Passing, Since: at(0), Message: "ok 1"},
		{State: Passing, Since: at(0), Message: "ok 1"},
		{State: Passing, Since: at(0), Message: "ok 1"},
		{State: Failing, Since: at(3), Message: "broken 2"},
		{State: Failing, Since: at(3), Message: "broken 2"},
		{State: Passing, Since: at(5), Message: "back"},
		{State: Passing, Since: at(5), Message: "back"},
	}
	var res Result
	against := 0
	for i, r := range runs {
		res, against = fold(res, against, 1, 2, outcome{pass: r.pass, message: r.msg}, at(i))
		if diff := cmp.Diff(want[i], res); diff != "" {
			t.Errorf("after run %d (-want +got):\n%s", i, diff)
		}
	}
}

func TestValueFollowsTheRunsThatAgreeWithTheState(t *testing.T) {
	type run struct {
		pass  bool
		value int
	}
	tests := map[string]struct {
		runs []run
		fall int
		want int
	}{
		"a passing run sets the value":                       {runs: []run{{true, 5}}, fall: 1, want: 5},
		"a new number while passing counts at once":          {runs: []run{{true, 5}, {true, 7}}, fall: 1, want: 7},
		"a failure within fall keeps the last passing value": {runs: []run{{true, 5}, {false, 0}}, fall: 2, want: 5},
		"the failure that changes the state sets its value":  {runs: []run{{true, 5}, {false, 0}, {false, 3}}, fall: 2, want: 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var res Result
			against := 0
			for _, r := range tc.runs {
				res, against = fold(res, against, 1, tc.fall, outcome{pass: r.pass, value: r.value}, time.Time{})
			}
			if res.Value != tc.want {
				t.Errorf("Value %d, want %d", res.Value, tc.want)
			}
		})
	}
}

func TestAFileReadingsMessageFollowsTheReadingWhileTheStateHolds(t *testing.T) {
	type run struct {
		pass  bool
		value int
		msg   string
	}
	tests := map[string]struct {
		runs []run
		fall int
		want Result
	}{
		"a new number brings its message": {
			runs: []run{{true, 5, "f holds 5"}, {true, 7, "f holds 7"}}, fall: 1,
			want: Result{State: Passing, Value: 7, Message: "f holds 7"},
		},
		"a missing file after a number says so": {
			runs: []run{{true, 5, "f holds 5"}, {true, 0, "f is missing: 0"}}, fall: 1,
			want: Result{State: Passing, Value: 0, Message: "f is missing: 0"},
		},
		"a failure within fall keeps the last passing number and message": {
			runs: []run{{true, 5, "f holds 5"}, {false, 0, `"up" is not an integer`}}, fall: 2,
			want: Result{State: Passing, Value: 5, Message: "f holds 5"},
		},
		"a failing file's message follows what it holds": {
			runs: []run{{false, 0, `"up" is not an integer`}, {false, 0, "not a regular file"}}, fall: 1,
			want: Result{State: Failing, Message: "not a regular file"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var res Result
			against := 0
			for _, r := range tc.runs {
				res, against = fold(res, against, 1, tc.fall, outcome{pass: r.pass, value: r.value, message: r.msg, reading: true}, time.Time{})
			}
			if diff := cmp.Diff(tc.want, res); diff != "" {
				t.Errorf("after %d readings (-want +got):\n%s", len(tc.runs), diff)
			}
		})
	}
}

func TestClipKeepsTheLastLineShortAndValid(t *testing.T) {
	long := strings.Repeat("é", MaxMessage) // 2 bytes each
	tests := map[string]struct {
		in, want string
	}{
		"the last non-empty line is kept":   {in: "one\ntwo\n\n  \n", want: "two"},
		"surrounding blanks go":             {in: "  ready  \r\n", want: "ready"},
		"a long line is cut at a rune edge": {in: long, want: long[:MaxMessage]},
		"invalid UTF-8 is replaced":         {in: "bad \xff byte", want: "bad \uFFFD byte"},
		"nothing stays nothing":             {in: "\n\n", want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := clip(tc.in)
			if got != tc.want {
				t.Errorf("clip(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if len(got) > MaxMessage || !utf8.ValidString(got) {
				t.Errorf("clip(%q) = %q: %d bytes, valid UTF-8 %v", tc.in, got, len(got), utf8.ValidString(got))
			}
		})
	}
}

package track

import (
	"strings"
	"time"
	"unicode/utf8"
)

// MaxMessage bounds Result.Message, which ends up in the VirtualIP's status.
const MaxMessage = 256

// outcome is what one run of a check, or one event of an event-driven check, found.
type outcome struct {
	pass    bool
	timeout bool // a failure for the state, told apart only in the runs metric
	message string
	value   int // file checks: the number the file holds
	// refused marks an exec check whose program could not be run at all: a check that is Unknown
	// stays so, adding nothing, until a run happens (fold).
	refused bool
	// reading marks a file check's outcome, whose message says what the file holds rather than how
	// a run went: it follows the file as value does, and is the same while the file stays the same.
	reading bool
}

// fold applies one outcome to a check's Result with keepalived's vrrp_script rules, and returns
// the new Result and the new count of outcomes in a row that disagree with its state. It is pure:
// the Manager calls it under its lock, with the clock's time.
//
//   - Unknown: the first outcome decides, either way, whatever rise and fall say. keepalived starts
//     a script at rise-1 ("one success is enough", vrrp_init_script) and reports a failure while
//     the script is still in its initial state at once (vrrp_script_child_thread), so a node with
//     a broken service never holds the VIP for fall intervals after a start or a change of check.
//   - Passing: fall failing outcomes in a row make it Failing; a passing one starts the count over.
//   - Failing: rise passing outcomes in a row make it Passing; a failing one starts the count over.
//   - An exec check whose program could not be run at all (refused) stays Unknown until it runs,
//     as keepalived disables a script it cannot run when it loads its configuration. A check that
//     has a state counts it as failing: a script redeployed in place, missing for an instant, must
//     not lift a FAULT or a weight past rise and fall.
//
// Since and Message change only with the state, so that a check that keeps its state never
// rewrites the status. Value follows every outcome that agrees with the (new) state: a file check
// whose number changes while it passes changes the priority at once, not after rise runs. A file
// check's Message follows with it, so that status never shows one number beside the weight of
// another; it still changes only when what the file holds does.
func fold(res Result, against, rise, fall int, o outcome, now time.Time) (Result, int) {
	if o.refused && res.State == Unknown {
		// Not a run: the check stays Unknown with why, and its first run decides.
		return Result{State: Unknown, Message: clip(o.message)}, 0
	}
	rise, fall = max(rise, 1), max(fall, 1)
	next := Passing
	if !o.pass {
		next = Failing
	}
	need := fall
	if next == Passing {
		need = rise
	}
	switch res.State {
	case next:
		against = 0
	case Unknown:
		against = need
	default:
		against++
	}
	if res.State != next && against >= need {
		res.State, res.Since, res.Message = next, now, clip(o.message)
		against = 0
	}
	if res.State == next {
		res.Value = o.value
		if o.reading {
			res.Message = clip(o.message)
		}
	}
	return res, against
}

// clip makes s fit Result.Message: its last non-empty line, at most MaxMessage bytes of valid
// UTF-8, cut at a rune boundary.
func clip(s string) string {
	s = strings.TrimRight(s, " \t\r\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	s = strings.ToValidUTF8(strings.TrimSpace(s), "\uFFFD")
	if len(s) <= MaxMessage {
		return s
	}
	cut := MaxMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// TestConvertedSeedBehavesAsKeepalived is the proof of `vrrp-operator convert` (issue 11): the
// seed's two keepalived.conf files run by keepalived in one lab, and the manifests converted from
// the same files run by two standalone agents in another, side by side. Both elect the primary,
// both hand the VIP to the secondary when the primary gets SIGTERM, and both call the seed's
// notify script with the same arguments, but for the instance name: keepalived passes VI_1, the
// agents the VirtualIP's name, vi-1 (the converter reports it).
func TestConvertedSeedBehavesAsKeepalived(t *testing.T) {
	requireLab(t)
	testenv.RequireTool(t, "keepalived")
	t.Parallel()
	const script = "/usr/local/sbin/keepalived.sh" // where the seed keeps it
	seed := filepath.Join(testenv.Root(), "convert", "keepalived", "testdata", "seed")
	files := map[string]string{"primary": filepath.Join(seed, "primary.conf"), "secondary": filepath.Join(seed, "secondary.conf")}

	// The agents' side: what `vrrp-operator convert --standalone` writes for the two nodes.
	bin := agentBinary(t)
	out, err := exec.Command(bin, "convert", "--standalone", "--node", "primary="+files["primary"], "--node", "secondary="+files["secondary"]).Output()
	if err != nil {
		t.Fatalf("vrrp-operator convert: %v\n%s", err, exitStderr(err))
	}
	converted := filepath.Join(t.TempDir(), "converted.yaml")
	if err := os.WriteFile(converted, out, 0o644); err != nil {
		t.Fatal(err)
	}
	// keepalived's side: the files as they are, but for where the notify script lives here.
	kaConfig := func(node string, h *seedHook) string {
		b, err := os.ReadFile(files[node])
		if err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(string(b), script, h.script)
	}

	kLab, aLab := testenv.NewLab(t), testenv.NewLab(t)
	kp, ks, kc := newNode(t, kLab, "ens3", seedPrimary), newNode(t, kLab, "eth0", seedSecondary), newNode(t, kLab, "eth0", seedClient)
	ap, as, ac := newNode(t, aLab, "ens3", seedPrimary), newNode(t, aLab, "eth0", seedSecondary), newNode(t, aLab, "eth0", seedClient)
	kph, ksh, aph, ash := newSeedHook(t), newSeedHook(t), newSeedHook(t), newSeedHook(t)

	start := time.Now()
	kpr := startKeepalived(t, kp, kaConfig("primary", kph))
	ksr := startKeepalived(t, ks, kaConfig("secondary", ksh))
	apr := startAgent(t, ap, "primary", converted, agentOptions{hooks: aph})
	mdi := masterDownInterval(2, time.Second, 100)
	recordTiming(t, "convert: keepalived elects the primary", waitOwner(t, start, mdi+10*time.Second, seedVIP, kp, ks))
	recordTiming(t, "convert: converted agents elect the primary", waitOwner(t, start, mdi+10*time.Second, seedVIP, ap, as))
	// Without Node objects a standalone agent cannot know that it outranks every node, so both would
	// start as Backup and the first timer to run out would win (RFC 9568 §6.4.2), where keepalived's
	// primary has `state MASTER`: the secondary joins once the primary holds the VIP.
	asr := startAgent(t, as, "secondary", converted, agentOptions{hooks: ash})
	holdsAlone(t, mdi, seedVIP, kc, kp, ks)
	holdsAlone(t, time.Second, seedVIP, ac, ap, as)
	for h, want := range map[*seedHook]string{kph: "1", ksh: "0", aph: "1", ash: "0"} {
		waitFlag(t, h, want, "after the election")
	}

	// The seed's maintenance use: stopping the primary's service hands the VIP over.
	stop := time.Now()
	kpr.sigterm()
	apr.sigterm()
	recordTiming(t, "convert: keepalived hands over on SIGTERM", waitOwner(t, stop, 5*time.Second, seedVIP, ks, kp))
	recordTiming(t, "convert: converted agents hand over on SIGTERM", waitOwner(t, stop, 5*time.Second, seedVIP, as, ap))
	kpr.waitExit()
	apr.waitExit()
	holdsAlone(t, time.Second, seedVIP, kc, ks, kp)
	holdsAlone(t, time.Second, seedVIP, ac, as, ap)
	for h, want := range map[*seedHook]string{kph: "0", ksh: "1", aph: "0", ash: "1"} {
		waitFlag(t, h, want, "after the primary stopped")
	}
	ksr.terminate()
	asr.terminate()

	// notify with INSTANCE <name> <STATE> <priority> on each transition and at stop, then
	// notify_stop's own arguments. keepalived runs scripts without waiting for each other, so its
	// calls are compared as a multiset; the agents' in order.
	calls := func(name, prio string) []string {
		return []string{"INSTANCE " + name + " BACKUP " + prio, "INSTANCE " + name + " MASTER " + prio, "INSTANCE " + name + " STOP " + prio, "0 VI_1 STOP"}
	}
	checkCalls(t, "primary under keepalived", kph, false, calls("VI_1", "150"))
	checkCalls(t, "secondary under keepalived", ksh, false, calls("VI_1", "100"))
	checkCalls(t, "primary under the converted agent", aph, true, calls("vi-1", "150"))
	checkCalls(t, "secondary under the converted agent", ash, true, calls("vi-1", "100"))
}

// exitStderr is what a failed command printed on stderr.
func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

package vrrp

import (
	"bufio"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// cmpOpts compares actions and adverts: netip values by ==, errors with errors.Is
// (a want of ErrVRID matches any error wrapping it).
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmpopts.EquateErrors(),
	cmpopts.EquateEmpty(),
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for k, s := range ss {
		out[k] = netip.MustParseAddr(s)
	}
	return out
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for k, s := range ss {
		out[k] = netip.MustParsePrefix(s)
	}
	return out
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// golden is one packet of testdata/*.txt.
type golden struct {
	src, dst netip.Addr
	ttl      int
	payload  []byte
}

func readGolden(t testing.TB, name string) golden {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var g golden
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, _ := strings.Cut(line, " ")
		switch key {
		case "src":
			g.src = netip.MustParseAddr(val)
		case "dst":
			g.dst = netip.MustParseAddr(val)
		case "ttl":
			if g.ttl, err = strconv.Atoi(val); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		case "payload":
			g.payload = mustHex(t, val)
		default:
			t.Fatalf("%s: unknown key %q", name, key)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !g.src.IsValid() || !g.dst.IsValid() || g.ttl == 0 || g.payload == nil {
		t.Fatalf("%s: incomplete golden file", name)
	}
	return g
}

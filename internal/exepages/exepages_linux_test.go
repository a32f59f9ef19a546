package exepages

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

const sampleSmaps = `00400000-0145b000 r-xp 00000000 fe:00 11027452                           /usr/bin/vrrp operator
Size:              16748 kB
Rss:               11500 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me sd
0145b000-0244c000 r--p 0105b000 fe:00 11027452                           /usr/bin/vrrp operator
Size:              16324 kB
Rss:               11844 kB
Anonymous:             0 kB
0244c000-024e2000 rw-p 0204c000 fe:00 11027452                           /usr/bin/vrrp operator
Rss:                 408 kB
Anonymous:           200 kB
024e2000-024f0000 r--p 020e2000 fe:00 11027452                           /usr/bin/vrrp operator
Rss:                  16 kB
Anonymous:             8 kB
024f0000-02500000 r--s 020f0000 fe:00 11027452                           /usr/bin/vrrp operator
Rss:                  64 kB
Anonymous:             0 kB
7f6ff76a0000-7f6ff7a00000 r--p 00000000 fe:00 22                         /usr/lib/other.so
Rss:                2152 kB
Anonymous:             0 kB
7fff5c5d2000-7fff5c5f3000 rw-p 00000000 00:00 0                          [stack]
Rss:                  16 kB
`

// Only the executable's private read-only mappings without copied pages are released: not its
// data (writable), not a relocated read-only one (private copies), not a shared one, not another
// file's.
func TestReleasableTakesCleanReadOnlyMappingsOfTheExecutable(t *testing.T) {
	spans, resident, err := releasable(strings.NewReader(sampleSmaps), "/usr/bin/vrrp operator")
	if err != nil {
		t.Fatal(err)
	}
	want := []span{{0x400000, 0x145b000}, {0x145b000, 0x244c000}}
	if len(spans) != len(want) || spans[0] != want[0] || spans[1] != want[1] {
		t.Errorf("spans %#v, want %#v", spans, want)
	}
	if want := int64(11500+11844) << 10; resident != want {
		t.Errorf("resident %d, want %d", resident, want)
	}
	if _, _, err := releasable(strings.NewReader("zz-0145b000 r-xp 0 fe:00 1 /x\n"), "/x"); err == nil {
		t.Error("a malformed mapping parsed without error")
	}
}

// Releasing drops the test binary's file pages from its RSS, and the program goes on running
// from the page cache.
func TestReleaseDropsExecutablePages(t *testing.T) {
	before := rssFile(t)
	released, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFile(t)
	if released <= 0 || after >= before {
		t.Fatalf("released %d bytes; RssFile %d kB before, %d kB after", released, before, after)
	}
	// Code and read-only data come back on use.
	if got := strconv.Itoa(12345) + strings.Repeat("x", 2); got != "12345xx" {
		t.Fatalf("got %q after releasing", got)
	}
}

func rssFile(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

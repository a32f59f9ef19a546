// Package exepages gives back the pages of the program's own executable that package
// initialisation touched. The binary links client-go and controller-runtime for cluster mode, and
// their init functions (API schemes, registries) touch about 15 MiB of its code and read-only data
// once, at start: resident for the life of the process although a standalone agent never runs that
// code again. Releasing the mappings drops them from the process's RSS; the pages stay in the page
// cache, so whatever the process does need again comes back with a minor fault, no disk read.
package exepages

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// span is an address range of a mapping.
type span struct{ start, end uintptr }

// Release drops this process's resident pages of its executable's read-only mappings (code,
// read-only data, the pc tables) and returns how many bytes were resident in them. It never
// touches a writable mapping, nor a read-only one that holds private copies (a dynamic loader's
// relocations before mprotect, a debugger's breakpoints): dropping those would lose their
// contents. It is safe at any time; the cost is a minor fault for each page used again.
func Release() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("finding the executable: %w", err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("reading the mappings: %w", err)
	}
	spans, resident, err := releasable(f, exe)
	f.Close()
	if err != nil {
		return 0, err
	}
	for _, s := range spans {
		// The range is not Go memory: madvise takes it as numbers, as smaps gave it.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, s.start, s.end-s.start, unix.MADV_DONTNEED); errno != 0 {
			return 0, fmt.Errorf("releasing %#x-%#x of %s: %w", s.start, s.end, exe, errno)
		}
	}
	return resident, nil
}

// releasable parses smaps and returns the private, non-writable mappings of exe without
// anonymous (copied-on-write) pages, and the bytes resident in them.
func releasable(smaps io.Reader, exe string) ([]span, int64, error) {
	var (
		spans    []span
		resident int64
		cur      *span // the mapping whose fields follow, if it is a candidate
		rss      int64
	)
	finish := func() {
		if cur != nil {
			spans = append(spans, *cur)
			resident += rss
		}
		cur, rss = nil, 0
	}
	sc := bufio.NewScanner(smaps)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(fields[0], ":") {
			// A mapping's header: address perms offset dev inode [path].
			finish()
			if len(fields) < 6 || strings.Join(fields[5:], " ") != exe || len(fields[1]) != 4 ||
				fields[1][1] == 'w' || fields[1][3] != 'p' {
				continue
			}
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 != nil || err2 != nil || end <= start {
				return nil, 0, fmt.Errorf("smaps: bad mapping %q", line)
			}
			cur = &span{start: uintptr(start), end: uintptr(end)}
			continue
		}
		if cur == nil || len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "Rss:", "Anonymous:":
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return nil, 0, fmt.Errorf("smaps: %q: %w", line, err)
			}
			if fields[0] == "Anonymous:" && kb > 0 {
				cur = nil // private copies: keep
			} else if fields[0] == "Rss:" {
				rss = kb << 10
			}
		}
	}
	finish()
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("reading smaps: %w", err)
	}
	return spans, resident, nil
}

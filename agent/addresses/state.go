package addresses

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
)

// StateFile is the name of the record inside the state directory.
const StateFile = "addresses.json"

// stateVersion is bumped when the file format changes incompatibly.
const stateVersion = 1

// Entry is one address the agent added to an interface.
type Entry struct {
	Interface string       `json:"interface"`
	Prefix    netip.Prefix `json:"prefix"` // the VIP with its prefix length, e.g. 198.51.100.252/24
}

func (e Entry) String() string { return e.Prefix.String() + " on " + e.Interface }

type stateDoc struct {
	Version   int     `json:"version"`
	Addresses []Entry `json:"addresses"`
}

// loadState reads the record in dir, creating dir if needed. A file that cannot be parsed is moved
// aside and an empty record returned: refusing to start would keep the node out of every router
// until someone repairs the file by hand, while what the lost record would have removed has a finite
// lifetime and goes away by itself. The file is only ever replaced by rename, but not fsynced, so a
// power cut may leave it empty or torn (harmless: the kernel's addresses went with it), as may
// outside interference (disk, an admin's editor), which the error log makes visible.
func loadState(dir string, log logr.Logger) ([]Entry, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	path := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading address record: %w", err)
	}
	var doc stateDoc
	err = json.Unmarshal(b, &doc)
	if err == nil && doc.Version == 0 {
		err = errors.New("no version")
	}
	if err == nil && doc.Version != stateVersion {
		// Not corruption: a newer agent wrote it. Guessing could remove an admin's address, and
		// moving it aside would forget what that agent added, so stop with a clear error.
		return nil, fmt.Errorf("reading address record %s: unsupported version %d, want %d", path, doc.Version, stateVersion)
	}
	if err == nil {
		err = validate(doc.Addresses)
	}
	if err != nil {
		aside := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405.000000000Z")
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("moving aside corrupt address record %s (%v): %w", path, err, rerr)
		}
		log.Error(err, "Address record is corrupt; moved it aside and starting with an empty record, so addresses it listed are not removed at start",
			"path", path, "movedTo", aside)
		return nil, nil
	}
	return doc.Addresses, nil
}

func validate(entries []Entry) error {
	for i, e := range entries {
		if e.Interface == "" || !e.Prefix.IsValid() {
			return fmt.Errorf("entry %d (%q, %q) lacks an interface or prefix", i, e.Interface, e.Prefix)
		}
	}
	return nil
}

// saveState replaces the record in dir atomically: a crash of the agent leaves either the old or
// the new file, never a torn one. It does not fsync: the record lists addresses in the kernel,
// which a power cut or a kernel crash removes along with the page cache, so it only has to outlive
// the agent's process, which the page cache does. An fsync per address, under the Manager's lock,
// held up every router becoming Master at once behind the disk (seconds on a busy node).
func saveState(dir string, entries []Entry) error {
	tmp, err := writeTemp(dir, entries)
	if tmp != "" {
		defer os.Remove(tmp) // fails harmlessly after the rename
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, StateFile))
	}
	if err != nil {
		return fmt.Errorf("writing address record: %w", err)
	}
	return nil
}

// probeState writes the record with entries as saveState would, but throws it away: it tells
// whether saveState could succeed now (disk full, read-only, gone) without changing the record.
func probeState(dir string, entries []Entry) error {
	tmp, err := writeTemp(dir, entries)
	if tmp != "" {
		_ = os.Remove(tmp)
	}
	if err != nil {
		return fmt.Errorf("writing address record: %w", err)
	}
	return nil
}

// recordWriter encodes the record as json.MarshalIndent with two spaces does, and a newline, into
// a buffer kept for the next record: a Master of 250 VIPs writes the record 250 times becoming
// Master, each time with every address, and MarshalIndent's fresh buffers were 4 of the 6 MB it
// allocated doing so.
type recordWriter struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var recordWriters = sync.Pool{New: func() any {
	w := &recordWriter{}
	w.enc = json.NewEncoder(&w.buf)
	w.enc.SetIndent("", "  ")
	return w
}}

// writeTemp writes the record with entries to a new temporary file in dir. It
// returns the file's name once the file exists, even with an error.
func writeTemp(dir string, entries []Entry) (string, error) {
	if entries == nil {
		entries = []Entry{}
	}
	w := recordWriters.Get().(*recordWriter)
	defer recordWriters.Put(w)
	w.buf.Reset()
	if err := w.enc.Encode(stateDoc{Version: stateVersion, Addresses: entries}); err != nil {
		return "", fmt.Errorf("encoding address record: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+StateFile+"-*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(w.buf.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return f.Name(), err
}

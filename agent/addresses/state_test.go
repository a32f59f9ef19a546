package addresses

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var equate = cmpopts.EquateComparable(netip.Prefix{})

func TestTheRecordSurvivesARoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := []Entry{{"eth0", netip.MustParsePrefix("198.51.100.252/24")}, {"ens3", netip.MustParsePrefix("2001:db8::252/64")}}
	if err := saveState(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := loadState(dir, funcr.New(func(_, args string) { t.Log(args) }, funcr.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, equate); diff != "" {
		t.Errorf("loaded record (-want +got):\n%s", diff)
	}
}

func TestLoadingTheRecord(t *testing.T) {
	tests := map[string]struct {
		content     string // "" means no file
		wantErr     string
		wantMoved   bool
		wantEntries int
	}{
		"a missing record is empty":                    {},
		"an empty record is empty":                     {content: `{"version":1,"addresses":[]}`},
		"a record with entries loads":                  {content: `{"version":1,"addresses":[{"interface":"eth0","prefix":"198.51.100.252/24"}]}`, wantEntries: 1},
		"unparsable JSON is moved aside":               {content: `{"version":1,"addr`, wantMoved: true},
		"an empty file is moved aside":                 {content: "\n", wantMoved: true},
		"a bad prefix is moved aside":                  {content: `{"version":1,"addresses":[{"interface":"eth0","prefix":"198.51.100.300/24"}]}`, wantMoved: true},
		"an entry without interface is moved aside":    {content: `{"version":1,"addresses":[{"prefix":"198.51.100.252/24"}]}`, wantMoved: true},
		"a record without version is moved aside":      {content: `{"addresses":[]}`, wantMoved: true},
		"a record from a newer agent is a clear error": {content: `{"version":2,"addresses":[]}`, wantErr: "unsupported version 2, want 1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if tc.content != "" {
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, StateFile), []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var logs []string
			log := funcr.New(func(_, args string) { logs = append(logs, args) }, funcr.Options{})

			got, err := loadState(dir, log)

			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("loadState error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.wantEntries {
				t.Errorf("loaded %v, want %d entries", got, tc.wantEntries)
			}
			moved, _ := filepath.Glob(filepath.Join(dir, StateFile+".corrupt-*"))
			if tc.wantMoved != (len(moved) == 1) {
				t.Fatalf("moved aside: %v, want moved %v", moved, tc.wantMoved)
			}
			if !tc.wantMoved {
				return
			}
			if b, _ := os.ReadFile(moved[0]); string(b) != tc.content {
				t.Errorf("moved file holds %q, want the original %q", b, tc.content)
			}
			if len(logs) != 1 || !strings.Contains(logs[0], "Address record is corrupt") || !strings.Contains(logs[0], moved[0]) {
				t.Errorf("logs = %q, want one error naming %s", logs, moved[0])
			}
			if _, err := os.Stat(filepath.Join(dir, StateFile)); !os.IsNotExist(err) {
				t.Errorf("corrupt record still in place: %v", err)
			}
		})
	}
}

// The record reads as json.MarshalIndent wrote it, with a newline, whatever buffer it was encoded
// in before: older agents and people read it.
func TestTheRecordKeepsItsFormat(t *testing.T) {
	dir := t.TempDir()
	many := []Entry{{"eth0", netip.MustParsePrefix("198.51.100.252/24")}, {"ens<3>", netip.MustParsePrefix("2001:db8::252/64")}}
	for _, entries := range [][]Entry{many, nil, many[:1], many} {
		if err := saveState(dir, entries); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, StateFile))
		if err != nil {
			t.Fatal(err)
		}
		if entries == nil {
			entries = []Entry{}
		}
		want, err := json.MarshalIndent(stateDoc{Version: stateVersion, Addresses: entries}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want)+"\n" {
			t.Errorf("record of %d entries:\n%s\nwant:\n%s", len(entries), got, want)
		}
	}
}

package testenv

import (
	"context"
	"net"
	"testing"
	"time"
)

func TestLabHostsReachEachOtherAndNamespacesAreIsolated(t *testing.T) {
	lab := NewLab(t)
	a := lab.Host("eth0", "198.51.100.1/24")
	b := lab.Host("ens3", "198.51.100.2/24")
	if a.MAC == "" || a.MAC == b.MAC {
		t.Fatalf("hosts need distinct MACs, got %q and %q", a.MAC, b.MAC)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := a.Command(ctx, "ping", "-c1", "-W2", "198.51.100.2").CombinedOutput(); err != nil {
		t.Fatalf("ping from %s to %s: %v: %s", a.Name, b.Name, err, out)
	}
	var names []string
	if err := b.Do(func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 || names[1] != "ens3" {
		t.Fatalf("interfaces inside %s = %v, want [lo ens3]", b.Name, names)
	}
}

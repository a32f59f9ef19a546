package vrrp

import (
	"net/netip"
	"testing"
)

// The benchmarks decode and encode the golden packets; encoding into a reused buffer must
// not allocate, decoding allocates the address slice only.

func BenchmarkDecode(b *testing.B) {
	for _, g := range goldenCases {
		p := readGolden(b, g.file)
		b.Run(g.file, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(p.payload)))
			for b.Loop() {
				if _, err := Decode(p.payload, p.src, p.dst, p.ttl); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, g := range goldenCases {
		p := readGolden(b, g.file)
		a, err := Decode(p.payload, p.src, p.dst, p.ttl)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(g.file, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(p.payload)))
			buf := make([]byte, 0, 64)
			for b.Loop() {
				if buf, err = a.AppendEncode(buf[:0], p.src, p.dst, g.mode); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkInstanceAdvertReceived(b *testing.B) {
	cfg := v3Config()
	i, err := NewInstance(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	i.Handle(Startup{}, t0)
	var ev Event = advertFrom(cfg, peerAddr, 150)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(cfg.AdvertInterval)
		if acts := i.Handle(ev, now); acts != nil {
			b.Fatalf("actions %v", acts)
		}
	}
}

func BenchmarkInstanceMasterAdvert(b *testing.B) {
	cfg := v3Config()
	cfg.Priority, cfg.StartAsMaster = 255, true
	i, err := NewInstance(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	i.Handle(Startup{}, t0)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(cfg.AdvertInterval)
		if acts := i.Handle(TimerExpired{}, now); len(acts) != 1 {
			b.Fatalf("actions %v", acts)
		}
	}
}

func BenchmarkAppendDecode(b *testing.B) {
	for _, g := range goldenCases {
		p := readGolden(b, g.file)
		b.Run(g.file, func(b *testing.B) {
			b.ReportAllocs()
			var addrs []netip.Addr
			for b.Loop() {
				a, err := AppendDecode(addrs, p.payload, p.src, p.dst, p.ttl)
				if err != nil {
					b.Fatal(err)
				}
				addrs = a.Addresses
			}
		})
	}
}

package addresses

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// nlmsg is one netlink message: its header and payload, padded.
func nlmsg(typ, flags uint16, seq uint32, payload []byte) []byte {
	ne := binary.NativeEndian
	b := ne.AppendUint32(nil, uint32(unix.NLMSG_HDRLEN+len(payload)))
	b = ne.AppendUint16(b, typ)
	b = ne.AppendUint16(b, flags)
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, 0)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// newAddr is an RTM_NEWADDR payload of ip (IFA_LOCAL) on the interface with index.
func newAddr(index int, ip netip.Addr) []byte {
	ne := binary.NativeEndian
	b := []byte{unix.AF_INET, 24, 0, 0}
	b = ne.AppendUint32(b, uint32(index))
	a := ip.AsSlice()
	b = ne.AppendUint16(b, uint16(unix.SizeofRtAttr+len(a)))
	b = ne.AppendUint16(b, unix.IFA_LOCAL)
	return append(b, a...)
}

// A dump the kernel marks interrupted (the addresses changed meanwhile) may lack the address
// looked for: hasAddr must not answer from it, or an admin's address would pass for absent and be
// taken over as the agent's.
func TestAnInterruptedDumpIsNoAnswer(t *testing.T) {
	ip := netip.MustParseAddr("198.51.100.252")
	tests := map[string]struct {
		dump              []byte
		wantDone, wantIn  bool
		wantIntr, wantErr bool
	}{
		"a whole dump that holds the address": {
			dump:     append(nlmsg(unix.RTM_NEWADDR, unix.NLM_F_MULTI, 7, newAddr(3, ip)), nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI, 7, make([]byte, 4))...),
			wantDone: true, wantIn: true,
		},
		"an interrupted dump": {
			dump:     append(nlmsg(unix.RTM_NEWADDR, unix.NLM_F_MULTI|unix.NLM_F_DUMP_INTR, 7, newAddr(2, ip)), nlmsg(unix.NLMSG_DONE, unix.NLM_F_MULTI|unix.NLM_F_DUMP_INTR, 7, make([]byte, 4))...),
			wantDone: true, wantIntr: true,
		},
		"an earlier request's interrupted reply does not count": {
			dump:     append(nlmsg(unix.RTM_NEWADDR, unix.NLM_F_DUMP_INTR, 6, newAddr(3, ip)), nlmsg(unix.RTM_NEWADDR, unix.NLM_F_MULTI, 7, newAddr(3, ip))...),
			wantDone: false, wantIn: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			done, in, intr, err := addrIn(tc.dump, 7, 3, ip)
			if done != tc.wantDone || in != tc.wantIn || intr != tc.wantIntr || (err != nil) != tc.wantErr {
				t.Errorf("addrIn = done %v, found %v, interrupted %v, %v; want %v, %v, %v, error %v",
					done, in, intr, err, tc.wantDone, tc.wantIn, tc.wantIntr, tc.wantErr)
			}
		})
	}
}

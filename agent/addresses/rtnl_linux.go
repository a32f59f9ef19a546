package addresses

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// rtnl is a NETLINK_ROUTE socket of the Manager's own for the one request a Master makes again and
// again: replacing an address to refresh its lifetime. A Master of 250 VIPs with the default
// lifetime of 6 s makes 125 a second. Through vishvananda/netlink each cost a lookup of the link by
// name and the replace, each a send, a getsockname and two receives into a fresh 64 KiB buffer;
// here it is one write and one read into buffers kept for the next time, with the link's index
// remembered (Manager.index).
//
// The request is the one netlink.Handle.AddrReplace sends for nlAddr's Addr (IFA_LOCAL,
// IFA_ADDRESS, for IPv4 the broadcast address it computes, IFA_CACHEINFO with a lifetime), so that
// either way of adding leaves the same address. The socket is blocking: rtnetlink handles a request
// within the send, so the acknowledgement is queued by the time the read asks for it.
type rtnl struct {
	fd   int
	seq  uint32
	req  []byte
	resp []byte
}

// rtnlTimeout bounds a request, as a hung kernel must not hang the router forever.
const rtnlTimeout = 5 * time.Second

// openRTNL opens the socket in the network namespace of the calling thread.
func openRTNL() (*rtnl, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening netlink: %w", err)
	}
	tv := unix.NsecToTimeval(rtnlTimeout.Nanoseconds())
	err = errors.Join(
		unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}),
		// Errors without a copy of the request: the sequence number is all the reply needs.
		unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1),
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv),
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv),
	)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("setting up netlink: %w", err)
	}
	return &rtnl{fd: fd, req: make([]byte, 0, 128), resp: make([]byte, 8192)}, nil
}

func (n *rtnl) close() { _ = unix.Close(n.fd) }

// replaceAddr adds p to the interface with index, or replaces it with the lifetime given (0:
// forever). IPv6 addresses skip duplicate address detection. The caller serialises calls.
func (n *rtnl) replaceAddr(index int, p netip.Prefix, lifetime time.Duration) error {
	n.seq++
	n.req = appendReplaceAddr(n.req[:0], n.seq, index, p, lifetime)
	if _, err := unix.Write(n.fd, n.req); err != nil {
		return fmt.Errorf("sending RTM_NEWADDR: %w", err)
	}
	for {
		m, err := unix.Read(n.fd, n.resp)
		if err != nil {
			return fmt.Errorf("reading the reply to RTM_NEWADDR: %w", err)
		}
		done, err := ackOf(n.resp[:m], n.seq)
		if done {
			return err
		}
	}
}

// appendReplaceAddr appends an RTM_NEWADDR request with NLM_F_CREATE|NLM_F_REPLACE|NLM_F_ACK.
func appendReplaceAddr(b []byte, seq uint32, index int, p netip.Prefix, lifetime time.Duration) []byte {
	ne := binary.NativeEndian
	start := len(b)
	b = ne.AppendUint32(b, 0) // nlmsg_len, set at the end
	b = ne.AppendUint16(b, unix.RTM_NEWADDR)
	b = ne.AppendUint16(b, unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_REPLACE)
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, 0) // nlmsg_pid: the kernel fills it in
	a := p.Addr()
	family, flags := byte(unix.AF_INET), byte(0)
	if a.Is6() {
		family, flags = unix.AF_INET6, unix.IFA_F_NODAD
	}
	// struct ifaddrmsg: family, prefixlen, flags, scope (universe), index.
	b = append(b, family, byte(p.Bits()), flags, unix.RT_SCOPE_UNIVERSE)
	b = ne.AppendUint32(b, uint32(index))
	ip := a.As16()
	local := ip[:]
	if a.Is4() {
		local = ip[12:]
	}
	b = appendAttr(b, unix.IFA_LOCAL, local)
	b = appendAttr(b, unix.IFA_ADDRESS, local)
	if a.Is4() && p.Bits() < 31 {
		// The broadcast address of the subnet, as netlink.Handle.AddrReplace computes it.
		brd := a.As4()
		for i := range brd {
			var m byte
			if bits := p.Bits() - 8*i; bits < 8 {
				m = ^byte(0xff << (8 - max(bits, 0)))
			}
			brd[i] |= m
		}
		b = appendAttr(b, unix.IFA_BROADCAST, brd[:])
	}
	if lifetime > 0 {
		secs := uint32((lifetime + time.Second - 1) / time.Second)
		// struct ifa_cacheinfo: preferred, valid, cstamp, tstamp.
		var ci [16]byte
		ne.PutUint32(ci[0:], secs)
		ne.PutUint32(ci[4:], secs)
		b = appendAttr(b, unix.IFA_CACHEINFO, ci[:])
	}
	ne.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

// appendAttr appends one netlink attribute, padded to 4 bytes.
func appendAttr(b []byte, typ uint16, data []byte) []byte {
	ne := binary.NativeEndian
	b = ne.AppendUint16(b, uint16(unix.SizeofRtAttr+len(data)))
	b = ne.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// ackOf looks in one datagram of replies for the acknowledgement of seq: done when found, with
// the error the kernel reported. Replies to earlier requests (one that timed out) are skipped.
func ackOf(b []byte, seq uint32) (done bool, err error) {
	ne := binary.NativeEndian
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(ne.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return true, fmt.Errorf("malformed netlink reply of %d bytes", len(b))
		}
		typ, s := ne.Uint16(b[4:]), ne.Uint32(b[8:])
		if s == seq && typ == unix.NLMSG_ERROR {
			if l < unix.NLMSG_HDRLEN+4 {
				return true, errors.New("short netlink error message")
			}
			if code := int32(ne.Uint32(b[unix.NLMSG_HDRLEN:])); code != 0 {
				return true, unix.Errno(-code)
			}
			return true, nil
		}
		b = b[min((l+3)&^3, len(b)):]
	}
	return false, nil
}

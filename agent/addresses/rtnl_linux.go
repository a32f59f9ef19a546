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
// again: replacing an address to refresh its lifetime. Interface watches drop the notifications of
// its requests (Manager.Port), which is right only as long as they are about the agent's VIPs:
// deletes must not go through it, as deleting an IPv4 primary reports the secondaries it
// removed or promoted (the node's own address among them) with the deleting request's port. A Master of 250 VIPs with the default
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
	port uint32 // the socket's netlink port, which the notifications of its requests carry
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
	sa, err := unix.Getsockname(fd)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("reading the netlink port: %w", err)
	}
	nsa, ok := sa.(*unix.SockaddrNetlink)
	if !ok {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("reading the netlink port: the socket's address is a %T", sa)
	}
	return &rtnl{fd: fd, port: nsa.Pid, req: make([]byte, 0, 128), resp: make([]byte, 8192)}, nil
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

// hasAddr reports whether ip is on the interface with index, with any prefix length: whether the
// address netlink.Handle.AddrList gives for one of the interface's (IFA_LOCAL, else IFA_ADDRESS)
// is ip. It reads the dump of the family's addresses into the buffer kept for replies, as the
// dump comes, without an allocation per address: through AddrList, each of a Master's 250 first
// adds listed every address of the link into new values, 30 MB of garbage in all. A dump datagram
// is never larger than the largest read the socket has seen (the kernel sizes it so), and every
// read is of resp; one cut short all the same would fail as malformed, never answer wrong. The
// caller serialises calls.
func (n *rtnl) hasAddr(index int, ip netip.Addr) (bool, error) {
	// A dump interrupted by a change (pod interfaces coming and going, other VIPs) is read
	// again: the next one is whole unless the addresses keep changing.
	for range dumpRetries {
		found, err := n.dumpHasAddr(index, ip)
		if !errors.Is(err, errDumpInterrupted) {
			return found, err
		}
	}
	return n.dumpHasAddr(index, ip)
}

// dumpRetries bounds the dumps hasAddr reads again after an interrupted one.
const dumpRetries = 3

// dumpHasAddr is one dump of hasAddr's.
func (n *rtnl) dumpHasAddr(index int, ip netip.Addr) (bool, error) {
	n.seq++
	n.req = appendGetAddr(n.req[:0], n.seq, ip.Is6())
	if _, err := unix.Write(n.fd, n.req); err != nil {
		return false, fmt.Errorf("sending RTM_GETADDR: %w", err)
	}
	found, intr := false, false
	for {
		m, err := unix.Read(n.fd, n.resp)
		if err != nil {
			return false, fmt.Errorf("reading the reply to RTM_GETADDR: %w", err)
		}
		done, in, cut, err := addrIn(n.resp[:m], n.seq, index, ip)
		found, intr = found || in, intr || cut
		if done {
			if err == nil && intr {
				// The addresses changed during the dump, which may miss one: no answer beats a
				// wrong one, which would take an admin's address for the agent's.
				err = errDumpInterrupted
			}
			return found, err
		}
	}
}

// errDumpInterrupted is hasAddr's error for a dump the kernel marked NLM_F_DUMP_INTR.
var errDumpInterrupted = errors.New("the address dump was interrupted by a change; try again")

// appendGetAddr appends an RTM_GETADDR dump request of the family's addresses, all interfaces'
// (netlink.Handle.AddrList's request: the reply is filtered by index).
func appendGetAddr(b []byte, seq uint32, v6 bool) []byte {
	ne := binary.NativeEndian
	family := byte(unix.AF_INET)
	if v6 {
		family = unix.AF_INET6
	}
	b = ne.AppendUint32(b, unix.NLMSG_HDRLEN+unix.SizeofIfAddrmsg)
	b = ne.AppendUint16(b, unix.RTM_GETADDR)
	b = ne.AppendUint16(b, unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	b = ne.AppendUint32(b, seq)
	b = ne.AppendUint32(b, 0)
	// struct ifaddrmsg: family, prefixlen, flags, scope, index.
	b = append(b, family, 0, 0, 0)
	return ne.AppendUint32(b, 0)
}

// addrIn looks in one datagram of the dump of seq for ip among the addresses of the interface
// with index: done at the dump's end, with the error the kernel reported; intr if a message
// carries NLM_F_DUMP_INTR. Replies to earlier requests (one that timed out) are skipped.
func addrIn(b []byte, seq uint32, index int, ip netip.Addr) (done, found, intr bool, err error) {
	ne := binary.NativeEndian
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(ne.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return true, found, intr, fmt.Errorf("malformed netlink reply of %d bytes", len(b))
		}
		typ, flags, s, msg := ne.Uint16(b[4:]), ne.Uint16(b[6:]), ne.Uint32(b[8:]), b[unix.NLMSG_HDRLEN:l]
		b = b[min((l+3)&^3, len(b)):]
		if s != seq {
			continue
		}
		intr = intr || flags&unix.NLM_F_DUMP_INTR != 0
		switch typ {
		case unix.NLMSG_DONE, unix.NLMSG_ERROR:
			if len(msg) >= 4 {
				if code := int32(ne.Uint32(msg)); code != 0 {
					return true, found, intr, unix.Errno(-code)
				}
			}
			return true, found, intr, nil
		case unix.RTM_NEWADDR:
			if len(msg) >= unix.SizeofIfAddrmsg && int(ne.Uint32(msg[4:])) == index && localAddr(msg[unix.SizeofIfAddrmsg:]) == ip {
				found = true
			}
		}
	}
	return false, found, intr, nil
}

// localAddr is the address of an RTM_NEWADDR message's attributes as netlink.Handle.AddrList
// gives it: IFA_LOCAL, else IFA_ADDRESS (IPv6 sends only that; for IPv4 with a peer, IFA_ADDRESS
// is the peer's).
func localAddr(attrs []byte) netip.Addr {
	ne := binary.NativeEndian
	var local, address netip.Addr
	for len(attrs) >= unix.SizeofRtAttr {
		l := int(ne.Uint16(attrs))
		if l < unix.SizeofRtAttr || l > len(attrs) {
			break
		}
		data := attrs[unix.SizeofRtAttr:l]
		switch ne.Uint16(attrs[2:]) {
		case unix.IFA_LOCAL:
			local, _ = netip.AddrFromSlice(data)
		case unix.IFA_ADDRESS:
			address, _ = netip.AddrFromSlice(data)
		}
		attrs = attrs[min((l+3)&^3, len(attrs)):]
	}
	if local.IsValid() {
		return local.Unmap()
	}
	return address.Unmap()
}

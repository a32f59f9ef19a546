package netif

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// subscription is a NETLINK_ROUTE socket subscribed to the notifications of links and of one
// family's addresses. Its datagrams are read straight into one buffer kept for the next time:
// through vishvananda/netlink's subscriptions, each notification cost a 64 KiB buffer, its parse
// into new values and two goroutine hand-offs, and a Master of 250 VIPs gets 125 a second (its
// own lifetime refreshes) unless quietPort filters them out.
type subscription struct {
	f    *os.File
	rc   syscall.RawConn
	buf  []byte
	once sync.Once
}

// subscriptionBuffer holds any notification whole: the kernel builds link notifications without
// the extensions (VFs, statistics of every kind) that a dump may ask for, so they stay a few KiB.
// One longer all the same is read cut short and counts as a change (next).
const subscriptionBuffer = 16 << 10

// subscribe opens a subscription in ns (netns.None(): the process's own, see watchedNamespace).
// Notifications of requests sent from the netlink port quietPort (0: none) never reach it: the
// kernel's socket filter drops them before they wake anyone. Ports are numbered per network
// namespace: quietPort must be a socket's in ns.
func subscribe(ns netns.NsHandle, v6 bool, quietPort uint32) (*subscription, error) {
	groups := uint32(1<<(unix.RTNLGRP_LINK-1) | 1<<(unix.RTNLGRP_IPV4_IFADDR-1))
	if v6 {
		groups = 1<<(unix.RTNLGRP_LINK-1) | 1<<(unix.RTNLGRP_IPV6_IFADDR-1)
	}
	fd, err := socketIn(ns)
	if err != nil {
		return nil, fmt.Errorf("opening netlink: %w", err)
	}
	// The filter comes before the groups are joined, so that nothing unfiltered is queued.
	if err := attachQuietFilter(fd, quietPort); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("subscribing to link and address changes: %w", err)
	}
	// A non-blocking descriptor (socketIn's) makes the file pollable: reads park the goroutine in
	// the runtime's poller, and closing the file ends them.
	f := os.NewFile(uintptr(fd), "netlink-notifications")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("subscribing to link and address changes: %w", err)
	}
	return &subscription{f: f, rc: rc, buf: make([]byte, subscriptionBuffer)}, nil
}

// socketIn opens a non-blocking NETLINK_ROUTE socket in ns. For another namespace than the
// process's it enters ns on a thread of its own, locked for the purpose, which goes back to the
// namespace it came from; a thread that cannot go back is never unlocked, so the runtime ends it
// rather than run anything else in ns.
func socketIn(ns netns.NsHandle) (int, error) {
	open := func() (int, error) {
		return unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	}
	if !ns.IsOpen() {
		return open()
	}
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		back, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{-1, fmt.Errorf("getting the network namespace: %w", err)}
			return
		}
		defer back.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			done <- result{-1, fmt.Errorf("entering network namespace %v: %w", ns, err)}
			return
		}
		fd, err := open()
		if serr := netns.Set(back); serr != nil {
			if err == nil {
				_ = unix.Close(fd)
			}
			done <- result{-1, fmt.Errorf("returning from network namespace %v: %w", ns, serr)}
			return // still locked: the thread ends with the goroutine
		}
		runtime.UnlockOSThread()
		done <- result{fd, err}
	}()
	r := <-done
	return r.fd, r.err
}

// attachQuietFilter makes the kernel drop, on fd, every message whose nlmsg_pid is port: a
// notification carries the port of the request that caused it (rtmsg_ifa for IPv4 addresses).
// Port 0 is the kernel's own and filters nothing.
func attachQuietFilter(fd int, port uint32) error {
	if port == 0 {
		return nil
	}
	// Classic BPF loads words in network byte order, netlink writes them in the host's: compare
	// with port's bytes as BPF will read them.
	var raw [4]byte
	binary.NativeEndian.PutUint32(raw[:], port)
	filter := []unix.SockFilter{
		// A = nlmsg_pid, the fourth word of struct nlmsghdr (len, type and flags, seq, pid).
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 12},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: binary.BigEndian.Uint32(raw[:]), Jt: 0, Jf: 1},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},          // drop
		{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff}, // keep all of it
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("attaching the socket filter: %w", err)
	}
	return nil
}

// close ends the subscription and any next waiting on it. It may be called more than once.
func (s *subscription) close() { s.once.Do(func() { _ = s.f.Close() }) }

// next waits until a notification comes, or until deadline unless it is zero, then reads every
// notification queued and hands visit each message: its type and the message after the header.
// A datagram read cut short is handed over as type 0. It returns os.ErrDeadlineExceeded when the
// deadline came first, and any other error when the subscription broke (ENOBUFS: notifications
// were lost) or was closed.
func (s *subscription) next(deadline time.Time, visit func(typ uint16, msg []byte)) error {
	if err := s.f.SetReadDeadline(deadline); err != nil {
		return err
	}
	var rerr error
	err := s.rc.Read(func(fd uintptr) bool {
		read := false
		for {
			n, err := recvTrunc(int(fd), s.buf)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if errors.Is(err, unix.EAGAIN) {
				return read // nothing read yet: wait in the poller
			}
			if err != nil {
				rerr = err
				return true
			}
			read = true
			if n > len(s.buf) {
				visit(0, nil)
				continue
			}
			eachMessage(s.buf[:n], visit)
		}
	})
	if rerr != nil {
		return fmt.Errorf("reading netlink notifications: %w", rerr)
	}
	return err
}

// recvTrunc reads one datagram into b and returns its whole length, which is more than len(b)
// when it was cut short (MSG_TRUNC). Unlike unix.Recvfrom it makes no sender address.
func recvTrunc(fd int, b []byte) (int, error) {
	n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// eachMessage hands visit each netlink message of a datagram; a malformed one as type 0.
func eachMessage(b []byte, visit func(typ uint16, msg []byte)) {
	ne := binary.NativeEndian
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(ne.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			visit(0, nil)
			return
		}
		visit(ne.Uint16(b[4:]), b[unix.NLMSG_HDRLEN:l])
		b = b[min((l+3)&^3, len(b)):]
	}
}

// eachAttr hands visit each route attribute of b: its type and value.
func eachAttr(b []byte, visit func(typ uint16, value []byte)) {
	ne := binary.NativeEndian
	for len(b) >= unix.SizeofRtAttr {
		l := int(ne.Uint16(b))
		if l < unix.SizeofRtAttr || l > len(b) {
			return
		}
		visit(ne.Uint16(b[2:])&^(unix.NLA_F_NESTED|unix.NLA_F_NET_BYTEORDER), b[unix.SizeofRtAttr:l])
		b = b[min((l+3)&^3, len(b)):]
	}
}

// linkNote is what an RTM_NEWLINK or RTM_DELLINK message says of its link: index and name.
func linkNote(msg []byte) (index int, name string, ok bool) {
	if len(msg) < unix.SizeofIfInfomsg {
		return 0, "", false
	}
	index = int(int32(binary.NativeEndian.Uint32(msg[4:])))
	eachAttr(msg[unix.SizeofIfInfomsg:], func(typ uint16, v []byte) {
		if typ == unix.IFLA_IFNAME {
			if i := bytes.IndexByte(v, 0); i >= 0 {
				v = v[:i]
			}
			name = string(v)
		}
	})
	return index, name, true
}

// addrNote is what an RTM_NEWADDR or RTM_DELADDR message says of its address: the interface's
// index, the address as netlink.Handle.AddrList gives it (IFA_LOCAL, else IFA_ADDRESS) with its
// prefix length, and its flags (IFA_FLAGS, else the message's 8 bits).
func addrNote(msg []byte) (index int, p netip.Prefix, flags int, ok bool) {
	if len(msg) < unix.SizeofIfAddrmsg {
		return 0, netip.Prefix{}, 0, false
	}
	bits, flags := int(msg[1]), int(msg[2])
	index = int(int32(binary.NativeEndian.Uint32(msg[4:])))
	var local, address netip.Addr
	eachAttr(msg[unix.SizeofIfAddrmsg:], func(typ uint16, v []byte) {
		switch typ {
		case unix.IFA_LOCAL:
			local, _ = netip.AddrFromSlice(v)
		case unix.IFA_ADDRESS:
			address, _ = netip.AddrFromSlice(v)
		case unix.IFA_FLAGS:
			if len(v) >= 4 {
				flags = int(binary.NativeEndian.Uint32(v))
			}
		}
	})
	ip := local
	if !ip.IsValid() {
		ip = address
	}
	if !ip.IsValid() {
		return index, netip.Prefix{}, flags, false
	}
	return index, netip.PrefixFrom(ip.Unmap(), bits), flags, true
}

package speaker

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vrrp-dev/vrrp-operator/agent/hooks"
	"github.com/vrrp-dev/vrrp-operator/agent/sockets"
	"github.com/vrrp-dev/vrrp-operator/agent/vrrp"
)

// lan is an in-memory layer 2 segment: what one node's Conn sends reaches every other node's Conn
// of the same family whose link is up (multicast) or whose address is the destination (unicast).
type lan struct {
	mu    sync.Mutex
	conns map[*fakeConn]struct{}
}

func newLAN() *lan { return &lan{conns: map[*fakeConn]struct{}{}} }

// node is one node's fake OS: network, addresses, announcements and hooks.
type node struct {
	lan  *lan
	addr netip.Addr

	mu         sync.Mutex
	up         bool
	listenFail int // how many Listen calls fail before one succeeds
	watchers   []func(LinkStatus)
	held       map[netip.Prefix]string // prefix -> interface
	addErr     error                   // Add fails with it while set (disk full, netlink)
	checkErr   error                   // Check fails with it while set: a failure Check can see
	addFail    int                     // how many more Adds fail with errTransient
	refreshErr error                   // Add of a prefix already held (a refresh) fails with it while set
	removeErr  error                   // Remove fails with it while set
	removeHang chan struct{}           // Remove waits until it is closed, as a hung netlink call
	adds       []time.Time             // when each Add succeeded
	announced  int
	jobs       []hooks.Job
}

var errTransient = errors.New("netlink: resource temporarily unavailable")

func newNode(l *lan, addr string) *node {
	return &node{lan: l, addr: netip.MustParseAddr(addr), up: true, held: map[netip.Prefix]string{}}
}

func (n *node) status() LinkStatus {
	if !n.up {
		return LinkStatus{Reason: "link eth0 is down"}
	}
	return LinkStatus{Up: true, Primary: n.addr}
}

func (n *node) Listen(ifname string, v6 bool) (sockets.Conn, error) {
	n.mu.Lock()
	if n.listenFail > 0 {
		n.listenFail--
		n.mu.Unlock()
		return nil, errors.New("no such device")
	}
	n.mu.Unlock()
	c := &fakeConn{lan: n.lan, node: n, in: make(chan sockets.Packet, 256), closed: make(chan struct{}), broken: make(chan struct{})}
	n.lan.mu.Lock()
	n.lan.conns[c] = struct{}{}
	n.lan.mu.Unlock()
	return c, nil
}

func (n *node) Watch(ctx context.Context, ifname string, v6 bool, onChange func(LinkStatus)) {
	n.mu.Lock()
	n.watchers = append(n.watchers, onChange)
	st := n.status()
	n.mu.Unlock()
	onChange(st)
	<-ctx.Done()
}

// setLink takes the node's link up or down and tells the watchers.
func (n *node) setLink(up bool) {
	n.mu.Lock()
	n.up = up
	st, ws := n.status(), slices.Clone(n.watchers)
	n.mu.Unlock()
	for _, w := range ws {
		w(st)
	}
}

func (n *node) Add(ifname string, p netip.Prefix, _ time.Duration) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.addErr != nil {
		return n.addErr
	}
	if n.addFail > 0 {
		n.addFail--
		return errTransient
	}
	if _, ok := n.held[p]; ok && n.refreshErr != nil {
		return n.refreshErr
	}
	n.held[p] = ifname
	n.adds = append(n.adds, time.Now())
	return nil
}

func (n *node) Check(ifname string, p netip.Prefix) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.checkErr
}

func (n *node) Remove(ifname string, p netip.Prefix) error {
	n.mu.Lock()
	hang := n.removeHang
	n.mu.Unlock()
	if hang != nil {
		<-hang
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.removeErr != nil {
		return n.removeErr
	}
	delete(n.held, p)
	return nil
}

// set changes the node's fakes under its lock.
func (n *node) set(f func(n *node)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f(n)
}

// breakReaders makes every socket the node has open fail to read from now on, as a socket whose
// reader died does.
func (n *node) breakReaders() {
	n.lan.mu.Lock()
	defer n.lan.mu.Unlock()
	for c := range n.lan.conns {
		if c.node == n {
			c.breakOnce.Do(func() { close(c.broken) })
		}
	}
}

func (n *node) holds(p string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.held[netip.MustParsePrefix(p)]
	return ok
}

func (n *node) Announce(ifname string, addrs []netip.Addr) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.announced++
	return nil
}

func (n *node) Enqueue(j hooks.Job) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.jobs = append(n.jobs, j)
}

func (n *node) Wait(context.Context) error { return nil }

func (n *node) hookCalls() [][]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out [][]string
	for _, j := range n.jobs {
		out = append(out, append(slices.Clone(j.Command), j.Args...))
	}
	return out
}

type fakeConn struct {
	lan       *lan
	node      *node
	in        chan sockets.Packet
	once      sync.Once
	closed    chan struct{}
	breakOnce sync.Once
	broken    chan struct{} // closed: Receive fails
}

var errReceive = errors.New("recvmsg: no buffer space available")

func (c *fakeConn) Receive(buf []byte) (sockets.Packet, error) {
	select {
	case p := <-c.in:
		return p, nil
	case <-c.closed:
		return sockets.Packet{}, net.ErrClosed
	case <-c.broken:
		return sockets.Packet{}, errReceive
	}
}

func (c *fakeConn) Send(payload []byte, src, dst netip.Addr) error {
	c.node.mu.Lock()
	up := c.node.up
	c.node.mu.Unlock()
	if !up {
		return net.ErrClosed
	}
	c.lan.deliver(c, sockets.Packet{Payload: payload, Src: src, Dst: dst, TTL: 255})
	return nil
}

func (c *fakeConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.lan.mu.Lock()
		delete(c.lan.conns, c)
		c.lan.mu.Unlock()
	})
	return nil
}

func (l *lan) deliver(from *fakeConn, p sockets.Packet) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		if c == from {
			continue
		}
		c.node.mu.Lock()
		up, addr := c.node.up, c.node.addr
		c.node.mu.Unlock()
		if !up || (!p.Dst.IsMulticast() && p.Dst != addr) {
			continue
		}
		q := p
		q.Payload = slices.Clone(p.Payload)
		select {
		case c.in <- q:
		default:
		}
	}
}

// tap listens on the LAN as a capture on the segment does: it gets every multicast packet sent
// from now on.
func (l *lan) tap() *fakeConn {
	n := newNode(l, "198.51.100.250")
	c := &fakeConn{lan: l, node: n, in: make(chan sockets.Packet, 256), closed: make(chan struct{}), broken: make(chan struct{})}
	l.mu.Lock()
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	return c
}

// heard is an advert a tap caught.
type heard struct {
	Src      string
	Priority uint8
}

// adverts returns, without waiting, the adverts the tap caught since the last call.
func (c *fakeConn) adverts(t *testing.T) []heard {
	t.Helper()
	var out []heard
	for {
		select {
		case p := <-c.in:
			adv, err := vrrp.Decode(p.Payload, p.Src, p.Dst, p.TTL)
			if err != nil {
				t.Fatalf("the tap caught a packet that does not decode: %v", err)
			}
			out = append(out, heard{Src: p.Src.String(), Priority: adv.Priority})
		default:
			return out
		}
	}
}

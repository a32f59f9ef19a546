package sockets

import (
	"errors"
	"fmt"
	"net"
	"sync"
)

// Reasons a Demux drops a packet, passed to its drop function for counting.
var (
	ErrOwnPacket   = errors.New("packet is an echo of our own")
	ErrTooShort    = errors.New("packet too short to hold a VRID")
	ErrUnknownVRID = errors.New("no router for the packet's VRID")
)

// ErrVRIDInUse is returned by Handle for a VRID that already has a router.
var ErrVRIDInUse = errors.New("VRID already has a router on this socket")

// maxPacket bounds a VRRP message: 255 IPv6 addresses and a header fit well within it.
const maxPacket = 1 << 16

// Demux lets the virtual routers of one interface and family share one Conn. It reads in its own
// goroutine and hands each packet to the handler registered for the packet's VRID (the second
// byte of every VRRP message, RFC 9568 §5.2.3, RFC 3768 §5.3.3).
type Demux struct {
	conn Conn
	drop func(Packet, error)

	mu       sync.RWMutex // held for reading while a handler runs, so Remove waits for it
	handlers map[uint8]func(Packet)

	closeOnce sync.Once
	done      chan struct{}
	err       error // why reading stopped, unless Close stopped it; written before done closes
}

// NewDemux starts reading c. Packets no handler takes go to drop with one of ErrOwnPacket,
// ErrTooShort or ErrUnknownVRID, so that the caller can count them; drop may be nil. The Demux
// owns c from now on: Close closes it.
func NewDemux(c Conn, drop func(p Packet, reason error)) *Demux {
	if drop == nil {
		drop = func(Packet, error) {}
	}
	d := &Demux{conn: c, drop: drop, handlers: make(map[uint8]func(Packet)), done: make(chan struct{})}
	go d.run()
	return d
}

// Handle delivers the packets for vrid to h from now on. Handlers run one at a time on the
// Demux's goroutine, so h must return quickly (hand the packet to the router's own loop) and must
// not call Handle or Remove. A packet's Payload is valid until h returns: the Demux reads the next
// packet into the same buffer, so a handler that keeps it copies it (into a buffer of its own
// that it reuses: a Backup of 250 routers at 100 ms receives 2,500 packets a second).
func (d *Demux) Handle(vrid uint8, h func(Packet)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.handlers[vrid]; ok {
		return fmt.Errorf("registering VRID %d: %w", vrid, ErrVRIDInUse)
	}
	d.handlers[vrid] = h
	return nil
}

// Remove stops delivering packets for vrid. Once it returns, that handler is not called again.
func (d *Demux) Remove(vrid uint8) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.handlers, vrid)
}

// Done is closed when the Demux has stopped reading, because of Close or a read error.
func (d *Demux) Done() <-chan struct{} { return d.done }

// Close closes the Conn, waits until no handler runs any more and returns the read error that
// had stopped the Demux before, if any.
func (d *Demux) Close() error {
	var err error
	d.closeOnce.Do(func() { err = d.conn.Close() })
	<-d.done
	if d.err != nil {
		return d.err
	}
	if errors.Is(err, net.ErrClosed) {
		return nil // closed behind our back; nothing is lost
	}
	return err
}

func (d *Demux) run() {
	defer close(d.done)
	buf := make([]byte, maxPacket)
	for {
		p, err := d.conn.Receive(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				d.err = err
			}
			return
		}
		// The buffer is reused for the next read: handlers copy what they keep.
		d.dispatch(p)
	}
}

func (d *Demux) dispatch(p Packet) {
	switch {
	case p.Own:
		d.drop(p, ErrOwnPacket)
		return
	case len(p.Payload) < 2:
		d.drop(p, ErrTooShort)
		return
	}
	d.mu.RLock()
	h, ok := d.handlers[p.Payload[1]]
	if ok {
		h(p)
	}
	d.mu.RUnlock()
	if !ok {
		d.drop(p, ErrUnknownVRID)
	}
}

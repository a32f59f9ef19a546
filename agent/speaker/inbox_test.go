package speaker

import (
	"net/netip"
	"testing"

	"github.com/vrrp-dev/vrrp-operator/agent/sockets"
)

// The inbox keeps the channel queue's behaviour it replaced: first in first out, at most
// packetQueue waiting (the rest refused, for the caller to count), a copy of each payload (the
// Demux reuses its buffer), finished buffers reused, and a ready token whenever packets wait.
func TestInboxQueuesUpToPacketQueueInOrder(t *testing.T) {
	q := newInbox()
	src := netip.MustParseAddr("198.51.100.1")
	demuxBuf := make([]byte, 1)
	for i := range packetQueue + 3 {
		demuxBuf[0] = byte(i)
		ok := q.put(sockets.Packet{Payload: demuxBuf, Src: src, TTL: i})
		if want := i < packetQueue; ok != want {
			t.Fatalf("put %d: %v, want %v", i, ok, want)
		}
	}
	for i := range packetQueue {
		select {
		case <-q.ready:
		default:
			t.Fatalf("packet %d waits without a ready token", i)
		}
		p, ok := q.take()
		if !ok || p.TTL != i || p.Src != src || len(p.Payload) != 1 || p.Payload[0] != byte(i) {
			t.Fatalf("take %d: %+v %v, want TTL and payload %d", i, p, ok, i)
		}
		if &p.Payload[0] == &demuxBuf[0] {
			t.Fatalf("take %d: the payload aliases the Demux's buffer", i)
		}
		q.recycle(p.Payload)
	}
	select {
	case <-q.ready:
		t.Fatal("a ready token with no packet waiting")
	default:
	}
	if p, ok := q.take(); ok {
		t.Fatalf("take from an empty inbox: %+v", p)
	}
	// Buffers come back: the next put copies into one rather than a new one.
	free := len(q.free)
	if free == 0 {
		t.Fatal("no free buffers after recycling every payload")
	}
	if !q.put(sockets.Packet{Payload: []byte{7}}) {
		t.Fatal("put after draining refused")
	}
	if len(q.free) != free-1 {
		t.Fatalf("free buffers %d after a put, want %d", len(q.free), free-1)
	}
}

// Interleaved puts and takes reuse the taken front of the queue: it stays as small as the most
// packets ever waiting at once, however many pass.
func TestInboxStaysAsSmallAsItsBacklog(t *testing.T) {
	q := newInbox()
	take := func(i int) {
		<-q.ready
		p, ok := q.take()
		if !ok {
			t.Fatalf("round %d: nothing to take", i)
		}
		q.recycle(p.Payload)
	}
	q.put(sockets.Packet{Payload: []byte{0}})
	for i := range 1000 {
		// The backlog goes 2, 3, 2, 3, 2, 1 and never empties: the front is taken while the back
		// grows.
		q.put(sockets.Packet{Payload: []byte{1}, TTL: i})
		q.put(sockets.Packet{Payload: []byte{2}, TTL: i})
		take(i)
		q.put(sockets.Packet{Payload: []byte{3}, TTL: i})
		take(i)
		take(i)
	}
	if got := cap(q.queue); got > 4 {
		t.Errorf("queue capacity %d after a backlog of at most 3", got)
	}
	if got := len(q.free); got > packetQueue+1 {
		t.Errorf("%d free buffers, want at most %d", got, packetQueue+1)
	}
}

// A mailbox keeps only the latest value, and a token it leaves behind after a take finds none.
func TestMailboxKeepsTheLatestValue(t *testing.T) {
	var m mailbox[int]
	m.init()
	m.put(1)
	m.put(2)
	<-m.ready
	var got int
	if !m.take(&got) || got != 2 {
		t.Fatalf("take = %d, want the latest value 2", got)
	}
	m.put(3)
	if !m.take(&got) || got != 3 {
		t.Fatalf("take = %d, want 3", got)
	}
	<-m.ready // the token of the put of 3, whose value was taken already
	if m.take(&got) {
		t.Errorf("take after its value was taken = %d, want none", got)
	}
}

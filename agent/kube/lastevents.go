package kube

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/reference"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// EventController is the reporting controller of the agents' Events.
const EventController = "vrrp-operator-agent"

// lastEvents is the recorder of the routers' last words: it keeps each Event for write, which
// lastWords calls once the entries and the label are written. The manager's recorder hands Events
// to a goroutine that stops with the manager, and the last words come after the manager has
// stopped: every router's Stopped Event was dropped. Written as they came, a node's hundreds of
// Events held up its STOPPED entries.
type lastEvents struct {
	c        client.Client
	instance string // as the manager's recorder names it: the controller and the host name
	log      logr.Logger

	mu     sync.Mutex
	events []*eventsv1.Event
}

func newLastEvents(c client.Client, log logr.Logger) *lastEvents {
	host, _ := os.Hostname()
	return &lastEvents{c: c, instance: EventController + "-" + host, log: log}
}

// Eventf keeps an Event as client-go's recorder makes it.
func (l *lastEvents) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	note = fmt.Sprintf(note, args...)
	ref, err := reference.GetReference(l.c.Scheme(), regarding)
	if err != nil {
		l.log.Error(err, "could not record an Event", "reason", reason, "note", note)
		return
	}
	var rel *corev1.ObjectReference
	if related != nil {
		if r, err := reference.GetReference(l.c.Scheme(), related); err == nil {
			rel = r
		}
	}
	ev := &eventsv1.Event{
		// Events of a cluster-scoped object go to the default namespace, as client-go's do.
		ObjectMeta:          metav1.ObjectMeta{GenerateName: ref.Name + ".", Namespace: cmp.Or(ref.Namespace, metav1.NamespaceDefault)},
		EventTime:           metav1.NowMicro(),
		ReportingController: EventController,
		ReportingInstance:   l.instance,
		Action:              action,
		Reason:              reason,
		Regarding:           *ref,
		Related:             rel,
		Note:                note,
		Type:                eventtype,
	}
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

// lastEventWriters bounds the Events write creates at once, and lastEventTimeout each one.
const (
	lastEventWriters = 8
	lastEventTimeout = time.Second
)

// write creates the Events kept so far, within ctx, and forgets them.
func (l *lastEvents) write(ctx context.Context) {
	l.mu.Lock()
	evs := l.events
	l.events = nil
	l.mu.Unlock()
	sem := make(chan struct{}, lastEventWriters)
	var wg sync.WaitGroup
	for i, ev := range evs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			wg.Wait()
			l.log.Info("no time left for the Events of the shutdown", "unwritten", len(evs)-i)
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(ctx, lastEventTimeout)
			defer cancel()
			if err := l.c.Create(ctx, ev); err != nil {
				l.log.Info("could not record an Event of the shutdown", "reason", ev.Reason, "note", ev.Note, "error", err.Error())
			}
		})
	}
	wg.Wait()
}

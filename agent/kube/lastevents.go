package kube

import (
	"cmp"
	"context"
	"fmt"
	"os"
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

// directRecorder writes each Event at once through c: the recorder of the routers' last words.
// The manager's recorder hands Events to a goroutine that stops with the manager, and the last
// words come after the manager has stopped: every router's Stopped Event was dropped.
type directRecorder struct {
	ctx      context.Context
	c        client.Client
	instance string // as the manager's recorder names it: the controller and the host name
	log      logr.Logger
}

func newDirectRecorder(ctx context.Context, c client.Client, log logr.Logger) directRecorder {
	host, _ := os.Hostname()
	return directRecorder{ctx: ctx, c: c, instance: EventController + "-" + host, log: log}
}

// lastEventTimeout bounds one Event's write: a router's Event must not take the time of the others'.
const lastEventTimeout = time.Second

// Eventf records an Event as client-go's recorder makes it, and waits for the API server's answer.
func (d directRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	note = fmt.Sprintf(note, args...)
	ref, err := reference.GetReference(d.c.Scheme(), regarding)
	if err != nil {
		d.log.Error(err, "could not record an Event", "reason", reason, "note", note)
		return
	}
	var rel *corev1.ObjectReference
	if related != nil {
		if r, err := reference.GetReference(d.c.Scheme(), related); err == nil {
			rel = r
		}
	}
	ev := &eventsv1.Event{
		// Events of a cluster-scoped object go to the default namespace, as client-go's do.
		ObjectMeta:          metav1.ObjectMeta{GenerateName: ref.Name + ".", Namespace: cmp.Or(ref.Namespace, metav1.NamespaceDefault)},
		EventTime:           metav1.NowMicro(),
		ReportingController: EventController,
		ReportingInstance:   d.instance,
		Action:              action,
		Reason:              reason,
		Regarding:           *ref,
		Related:             rel,
		Note:                note,
		Type:                eventtype,
	}
	ctx, cancel := context.WithTimeout(d.ctx, lastEventTimeout)
	defer cancel()
	if err := d.c.Create(ctx, ev); err != nil {
		d.log.Info("could not record an Event of the shutdown", "reason", reason, "note", note, "error", err.Error())
	}
}

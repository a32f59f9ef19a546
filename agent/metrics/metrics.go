// Package metrics defines the agent's Prometheus metrics. Names are constants so that tests and
// dashboards share them.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metric names, all prefixed vrrp_operator_.
const (
	RouterState     = "vrrp_operator_router_state"
	RouterPriority  = "vrrp_operator_router_priority"
	Transitions     = "vrrp_operator_transitions_total"
	AdvertsSent     = "vrrp_operator_adverts_sent_total"
	AdvertsReceived = "vrrp_operator_adverts_received_total"
	PacketsDropped  = "vrrp_operator_packets_dropped_total"
	SendErrors      = "vrrp_operator_send_errors_total"
	HookRuns        = "vrrp_operator_hook_runs_total"
	HookDuration    = "vrrp_operator_hook_duration_seconds"
	APIWriteErrors  = "vrrp_operator_api_write_errors_total"
	// EventsSuppressed counts the Events a router's changes would have recorded beyond its budget
	// (a router that flaps); the next Event it records says how many it stands for.
	EventsSuppressed = "vrrp_operator_events_suppressed_total"
	AddressErrors    = "vrrp_operator_address_errors_total"
	// AddressMismatch counts adverts processed although their address list differs from ours;
	// lists that share no address with ours are dropped instead (PacketsDropped, address_mismatch).
	AddressMismatch = "vrrp_operator_adverts_address_mismatch_total"
	// Health checks of spec.track, by VirtualIP and check name.
	TrackCheckPassing = "vrrp_operator_track_check_passing"
	TrackRuns         = "vrrp_operator_track_runs_total"
	TrackStateChanges = "vrrp_operator_track_state_changes_total"
)

// Values of the result label of TrackRuns. Only checks that run (exec, http, tcp, file) count runs;
// interface and pods checks follow events.
const (
	RunPassed  = "passed"
	RunFailed  = "failed"
	RunTimeout = "timeout" // an exec killed at its timeout, or a probe that got no answer in time
	RunNotRun  = "not_run" // an exec check whose program could not be run at all
)

// Values of the to label of TrackStateChanges.
const (
	CheckPassing = "passing"
	CheckFailing = "failing"
)

// Values of the operation label of AddressErrors.
const (
	OpAdd    = "add"    // adding or refreshing a VIP, or checking that it could be added
	OpRemove = "remove" // removing a VIP
)

// Values of the resource label of APIWriteErrors: what the agent writes.
const (
	ResourceVirtualIPStatus = "virtualip_status" // this node's entry of a VirtualIP's status.nodes
	ResourceNodeLabel       = "node_label"       // vrrp.dev/master-<name> on this node's Node
)

// Values of the reason label of APIWriteErrors.
const (
	ReasonForbidden = "forbidden" // RBAC or the admission policy refused: retrying cannot fix it
	ReasonConflict  = "conflict"
	ReasonOther     = "other" // the API server away, timeouts, invalid objects
)

// States is the state set of RouterState, in the words keepalived uses.
var States = []string{"INIT", "BACKUP", "MASTER", "FAULT", "STOPPED"}

// Metrics are the agent's collectors.
type Metrics struct {
	State           *prometheus.GaugeVec
	Priority        *prometheus.GaugeVec
	Transitions     *prometheus.CounterVec
	AdvertsSent     *prometheus.CounterVec
	AdvertsReceived *prometheus.CounterVec
	Dropped         *prometheus.CounterVec
	SendErrors      *prometheus.CounterVec
	HookRuns        *prometheus.CounterVec
	HookDuration    *prometheus.HistogramVec
	APIWriteErrors  *prometheus.CounterVec
	// EventsSuppressed: see the constant.
	EventsSuppressed *prometheus.CounterVec
	AddressErrors    *prometheus.CounterVec
	AddressMismatch  *prometheus.CounterVec

	TrackPassing      *prometheus.GaugeVec
	TrackRuns         *prometheus.CounterVec
	TrackStateChanges *prometheus.CounterVec
}

// New creates the collectors and registers them with reg when it is not nil.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		State: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: RouterState,
			Help: "1 for the state each virtual router is in on this node, 0 for the others."},
			[]string{"virtual_ip", "state"}),
		Priority: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: RouterPriority,
			Help: "Effective VRRP priority of each virtual router on this node."},
			[]string{"virtual_ip"}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: Transitions,
			Help: "State transitions of each virtual router."},
			[]string{"virtual_ip", "from", "to"}),
		AdvertsSent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: AdvertsSent,
			Help: "VRRP advertisements sent."},
			[]string{"virtual_ip"}),
		AdvertsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{Name: AdvertsReceived,
			Help: "VRRP advertisements received and accepted by a router."},
			[]string{"virtual_ip"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: PacketsDropped,
			Help: "VRRP packets dropped, by reason; virtual_ip is empty when no router took the packet."},
			[]string{"interface", "virtual_ip", "reason"}),
		SendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: SendErrors,
			Help: "Failures to send an advertisement or announcement."},
			[]string{"virtual_ip"}),
		HookRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: HookRuns,
			Help: "Hook runs by kind and result (success, failure, timeout, refused, dropped, cut: at shutdown, see hooks.Runner.Cut)."},
			[]string{"virtual_ip", "kind", "result"}),
		HookDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: HookDuration,
			Help:    "How long hooks ran.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60}},
			[]string{"kind"}),
		APIWriteErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: APIWriteErrors,
			Help: "Writes of the agent the API server did not take, by resource and reason (forbidden, conflict, other)."},
			[]string{"resource", "reason"}),
		EventsSuppressed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: EventsSuppressed,
			Help: "Events of a router's transitions and check changes not recorded because the router changed more often than its budget (a burst of 10, then one every 6s)."},
			[]string{"virtual_ip"}),
		AddressErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: AddressErrors,
			Help: "Failures to add, refresh or remove a VIP on the interface (operation add or remove); each is retried."},
			[]string{"virtual_ip", "operation"}),
		AddressMismatch: prometheus.NewCounterVec(prometheus.CounterOpts{Name: AddressMismatch,
			Help: "Adverts accepted although their address list differs from the router's: it shares an address " +
				"(a list being changed, keepalived's virtual_ipaddress_excluded) or comes from the address owner. " +
				"Lists sharing none are dropped and counted in " + PacketsDropped + " as address_mismatch."},
			[]string{"virtual_ip"}),
		TrackPassing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: TrackCheckPassing,
			Help: "1 while a health check of spec.track passes, 0 while it fails; absent until its first result."},
			[]string{"virtual_ip", "check"}),
		TrackRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: TrackRuns,
			Help: "Runs of exec, http, tcp and file health checks by result (passed, failed, timeout, not_run: an exec check whose program could not be run)."},
			[]string{"virtual_ip", "check", "result"}),
		TrackStateChanges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: TrackStateChanges,
			Help: "Health check state changes after rise or fall, by the state entered (passing, failing)."},
			[]string{"virtual_ip", "check", "to"}),
	}
	// Every series of APIWriteErrors exists from the start, so that an alert on its increase fires
	// on the first refusal too.
	for _, resource := range []string{ResourceVirtualIPStatus, ResourceNodeLabel} {
		for _, reason := range []string{ReasonForbidden, ReasonConflict, ReasonOther} {
			m.APIWriteErrors.WithLabelValues(resource, reason)
		}
	}
	if reg != nil {
		reg.MustRegister(m.State, m.Priority, m.Transitions, m.AdvertsSent, m.AdvertsReceived,
			m.Dropped, m.SendErrors, m.HookRuns, m.HookDuration, m.APIWriteErrors, m.EventsSuppressed, m.AddressErrors, m.AddressMismatch,
			m.TrackPassing, m.TrackRuns, m.TrackStateChanges)
	}
	return m
}

// SetState sets the state set of a router: 1 for state, 0 for the others.
func (m *Metrics) SetState(router, state string) {
	for _, s := range States {
		v := 0.0
		if s == state {
			v = 1
		}
		m.State.WithLabelValues(router, s).Set(v)
	}
}

// Forget removes a router's series when the router is gone or replaced. Its checks' series stay:
// agent/track runs checks apart from the router and forgets them itself (ForgetCheck).
func (m *Metrics) Forget(router string) {
	for _, v := range []*prometheus.MetricVec{m.State.MetricVec, m.Priority.MetricVec, m.Transitions.MetricVec,
		m.AdvertsSent.MetricVec, m.AdvertsReceived.MetricVec, m.SendErrors.MetricVec, m.HookRuns.MetricVec,
		m.AddressErrors.MetricVec, m.AddressMismatch.MetricVec} {
		v.DeletePartialMatch(prometheus.Labels{"virtual_ip": router})
	}
}

// ForgetCheck removes the series of one health check of a router, when the check is removed or
// changed.
func (m *Metrics) ForgetCheck(router, check string) {
	for _, v := range []*prometheus.MetricVec{m.TrackPassing.MetricVec, m.TrackRuns.MetricVec, m.TrackStateChanges.MetricVec} {
		v.DeletePartialMatch(prometheus.Labels{"virtual_ip": router, "check": check})
	}
}

package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations, labels and finalizers that steer or describe virtual routers.
const (
	// MaintenanceAnnotation on a Node set to "true" releases every VIP the node holds (priority 0,
	// addresses dropped, stop hook run) until it is removed.
	MaintenanceAnnotation = "vrrp.dev/maintenance"
	// PreferredNodeAnnotation on a VirtualIP names the node that should hold it: that node's
	// effective priority becomes 254 for this router.
	PreferredNodeAnnotation = "vrrp.dev/preferred-node"
	// ExcludeLabel on a Node releases its VIPs, as for MetalLB and cloud load balancers.
	ExcludeLabel = "node.kubernetes.io/exclude-from-external-load-balancers"
	// MasterLabelPrefix + VirtualIP name is set to "true" on the Node that holds the VIP, so that
	// workloads can follow it with node affinity.
	MasterLabelPrefix = "vrrp.dev/master-"
)

// VRRPVersion is the protocol version a router speaks.
// +kubebuilder:validation:Enum=2;3
type VRRPVersion int32

const (
	// VRRPv2 is RFC 3768: IPv4 only, whole-second intervals, optional PASS authentication.
	VRRPv2 VRRPVersion = 2
	// VRRPv3 is RFC 9568: IPv4 and IPv6, centisecond intervals, no authentication.
	VRRPv3 VRRPVersion = 3
)

// AuthenticationType is the VRRPv2 authentication scheme.
// +kubebuilder:validation:Enum=PASS
type AuthenticationType string

// AuthenticationPass is RFC 3768 simple text password authentication (keepalived's auth_type PASS).
const AuthenticationPass AuthenticationType = "PASS"

// CordonPolicy says what a node does with a VIP when it is cordoned.
// +kubebuilder:validation:Enum=Demote;Release;Ignore
type CordonPolicy string

const (
	// CordonDemote drops the node's priority to 1 after a priority-0 advert: the best backup takes over
	// at once, yet the VIP stays up if every node is cordoned.
	CordonDemote CordonPolicy = "Demote"
	// CordonRelease withdraws the node from the router entirely, as the maintenance annotation does.
	CordonRelease CordonPolicy = "Release"
	// CordonIgnore keeps the node's priority.
	CordonIgnore CordonPolicy = "Ignore"
)

// ChecksumMode selects how VRRPv3 over IPv4 adverts are checksummed. Both forms exist in the wild and
// both are accepted on receive; this only chooses what is sent.
// +kubebuilder:validation:Enum=PseudoHeader;NoPseudoHeader
type ChecksumMode string

const (
	// ChecksumPseudoHeader includes the IPv4 pseudo-header, as keepalived does by default.
	ChecksumPseudoHeader ChecksumMode = "PseudoHeader"
	// ChecksumNoPseudoHeader covers the VRRP message only.
	ChecksumNoPseudoHeader ChecksumMode = "NoPseudoHeader"
)

// VirtualIPSpec declares one VRRP virtual router.
//
// +kubebuilder:validation:XValidation:rule="!has(self.authentication) || self.version == 2",message="authentication (PASS) requires version 2: VRRPv3 has no authentication"
// +kubebuilder:validation:XValidation:rule="self.version != 2 || self.addresses.all(a, !a.contains(':'))",message="addresses must be IPv4 with version 2: VRRPv2 carries IPv4 only"
// +kubebuilder:validation:XValidation:rule="self.version != 2 || (duration(self.advertInterval).getMilliseconds() % 1000 == 0 && duration(self.advertInterval) <= duration('255s'))",message="advertInterval must be whole seconds from 1s to 255s with version 2"
// +kubebuilder:validation:XValidation:rule="self.version != 3 || (duration(self.advertInterval).getMilliseconds() % 10 == 0 && duration(self.advertInterval) <= duration('40950ms'))",message="advertInterval must be a multiple of 10ms up to 40.95s with version 3"
type VirtualIPSpec struct {
	// virtualRouterID is the VRID (keepalived's virtual_router_id), unique per network segment and
	// address family.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=255
	VirtualRouterID int32 `json:"virtualRouterID"`

	// version is the VRRP version: 2 (RFC 3768) or 3 (RFC 9568).
	// +optional
	// +kubebuilder:default=3
	Version VRRPVersion `json:"version,omitempty"`

	// The rules of addresses after the first skip what is not an IP or CIDR (the first refuses it)
	// and read the IP of a CIDR as written (cidr().ip(), not masked). They use the CEL IP library of
	// Kubernetes 1.30, which CRDs may use from 1.31 on, and compare IPs with containsIP: the API
	// server estimates the cost of == on two IPs as unbounded and would refuse the CRD.

	// addresses are the virtual IPs, as an IP or CIDR (the prefix length gives the address's subnet on
	// the interface; /32 or /128 when absent). All of one family, each a unicast address a node can
	// hold and answer for, each IP once.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=49
	// +kubebuilder:validation:items:XValidation:rule="isIP(self) || isCIDR(self)",message="each address must be an IP address or CIDR, such as 198.51.100.10/24"
	// +kubebuilder:validation:items:XValidation:rule="!(isIP(self) || isCIDR(self)) || !cidr('224.0.0.0/4').containsIP(isCIDR(self) ? cidr(self).ip() : ip(self)) && !cidr('ff00::/8').containsIP(isCIDR(self) ? cidr(self).ip() : ip(self))",message="each address must be unicast: a multicast address (224.0.0.0/4, ff00::/8) cannot be a virtual IP"
	// +kubebuilder:validation:items:XValidation:rule="!(isIP(self) || isCIDR(self)) || !(isCIDR(self) ? cidr(self).ip() : ip(self)).isLoopback()",message="each address must not be a loopback address (127.0.0.0/8, ::1): other nodes cannot reach it"
	// +kubebuilder:validation:items:XValidation:rule="!(isIP(self) || isCIDR(self)) || (isCIDR(self) ? cidr(self).ip() : ip(self)).family() != 4 || !(isCIDR(self) ? cidr(self).ip() : ip(self)).isLinkLocalUnicast()",message="each address must not be an IPv4 link-local address (169.254.0.0/16)"
	// +kubebuilder:validation:items:XValidation:rule="!(isIP(self) || isCIDR(self)) || !(isCIDR(self) ? cidr(self).ip() : ip(self)).isUnspecified()",message="each address must not be the unspecified address (0.0.0.0, ::)"
	// +kubebuilder:validation:items:XValidation:rule="!(isIP(self) || isCIDR(self)) || !cidr('255.255.255.255/32').containsIP(isCIDR(self) ? cidr(self).ip() : ip(self))",message="each address must not be the limited broadcast address 255.255.255.255"
	// +kubebuilder:validation:XValidation:rule="self.all(a, a.contains(':')) || self.all(a, !a.contains(':'))",message="addresses must all be IPv4 or all IPv6: one virtual router speaks one family"
	// +kubebuilder:validation:XValidation:rule="self.all(a, !(isIP(a) || isCIDR(a)) || self.exists_one(b, (isIP(b) || isCIDR(b)) && cidr(b.split('/')[0] + (b.contains(':') ? '/128' : '/32')).containsIP(isCIDR(a) ? cidr(a).ip() : ip(a))))",message="addresses must name each IP once, with one prefix length: 198.51.100.252/24 and 198.51.100.252/32 are one IP"
	Addresses []string `json:"addresses"`

	// interface names the network interface on every node. Empty: on each node, the interface whose
	// subnet holds the first address (so nodes may differ, like ens3 and eth0).
	// +optional
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[^/\s:]*$`
	Interface string `json:"interface,omitempty"`

	// advertInterval is how often the Master advertises: whole seconds for version 2, multiples of
	// 10ms up to 40.95s for version 3.
	// +optional
	// +kubebuilder:default="1s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=24
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}h)?([0-9]{1,5}m)?([0-9]{1,5}(\.[0-9]{1,3})?s)?([0-9]{1,7}ms)?$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10ms')",message="advertInterval must be at least 10ms"
	AdvertInterval *metav1.Duration `json:"advertInterval,omitempty"`

	// priority of every participating node not named in nodePriorities; the highest wins.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=254
	Priority int32 `json:"priority,omitempty"`

	// nodePriorities overrides priority for some nodes, by name or label selector. The first matching
	// entry wins.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.all(x, !has(x.node) || self.exists_one(y, has(y.node) && y.node == x.node))",message="nodePriorities must not name the same node twice"
	NodePriorities []NodePriority `json:"nodePriorities,omitempty"`

	// nodeSelector chooses the nodes that take part. Empty: every node running the agent. The API
	// server refuses unknown operators and misplaced values; a selector it admits but no agent can
	// parse (a malformed label key, say) the controller reports as Degraded, reason InvalidSpec.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="nodeSelector.matchExpressions operator must be In, NotIn, Exists or DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['Exists', 'DoesNotExist'] ? !has(e.values) || size(e.values) == 0 : !(e.operator in ['In', 'NotIn']) || has(e.values) && size(e.values) > 0)",message="nodeSelector.matchExpressions values must be empty with Exists and DoesNotExist, and not empty with In and NotIn"
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`

	// preempt lets a higher-priority node take the VIP back from a lower-priority Master.
	// +optional
	// +kubebuilder:default=true
	Preempt *bool `json:"preempt,omitempty"`

	// preemptDelay waits this long after startup before preempting (keepalived's preempt_delay).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=24
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}h)?([0-9]{1,5}m)?([0-9]{1,5}(\.[0-9]{1,3})?s)?([0-9]{1,7}ms)?$`
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('1h')",message="preemptDelay must be at most 1h"
	PreemptDelay *metav1.Duration `json:"preemptDelay,omitempty"`

	// unicast sends adverts to the other participating nodes instead of the VRRP multicast group,
	// for networks that drop multicast: from this node's address on the interface (its InternalIP
	// when that is there, else one in the first address's subnet; for IPv6 a global one) to the
	// address each node publishes in status.nodes[].address, or its InternalIPs until it has.
	// +optional
	Unicast bool `json:"unicast,omitempty"`

	// authentication is VRRPv2 simple text password authentication. Only the first 8 bytes of the
	// password are used, as on the wire.
	// +optional
	Authentication *Authentication `json:"authentication,omitempty"`

	// v3IPv4Checksum chooses the checksum sent for VRRPv3 over IPv4. Both are accepted on receive.
	// +optional
	// +kubebuilder:default=PseudoHeader
	V3IPv4Checksum ChecksumMode `json:"v3IPv4Checksum,omitempty"`

	// failover says how nodes react to being cordoned.
	// +optional
	// +kubebuilder:default={onCordon: Demote}
	Failover *Failover `json:"failover,omitempty"`

	// garp tunes the gratuitous ARPs (IPv4) or unsolicited neighbor advertisements (IPv6) a new Master
	// sends for its addresses.
	// +optional
	GARP *GARP `json:"garp,omitempty"`

	// hooks are programs in the agent's hook directory run on transitions, like keepalived's notify
	// scripts.
	// +optional
	Hooks *Hooks `json:"hooks,omitempty"`

	// track are health checks each node runs for this router, like keepalived's vrrp_script,
	// track_interface and track_file, plus pods on the node: a check with a weight adds it to the
	// node's priority (a negative one while failing, a positive one while passing); a failing check
	// without one puts the router in FAULT on that node. The effective priority stays within 1-254.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Track []Check `json:"track,omitempty"`
}

// Check is one health check. Exactly one of exec, http, tcp, interface, file and pods says what it
// looks at.
//
// +kubebuilder:validation:XValidation:rule="[has(self.exec), has(self.http), has(self.tcp), has(self.interface), has(self.file), has(self.pods)].filter(x, x).size() == 1",message="each check needs exactly one of exec, http, tcp, interface, file or pods"
// +kubebuilder:validation:XValidation:rule="!has(self.timeout) || duration(self.timeout) <= (has(self.interval) ? duration(self.interval) : duration('1s'))",message="timeout must not be longer than interval (1s when absent)"
// +kubebuilder:validation:XValidation:rule="!(has(self.interface) || has(self.pods)) || !has(self.interval) && !has(self.timeout) && !has(self.rise) && !has(self.fall)",message="interface and pods checks are watched: interval, timeout, rise and fall do not apply"
type Check struct {
	// name identifies the check in status, Events and metrics.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// weight is added to the node's priority while the check fails (negative) or passes
	// (positive). Absent or 0: a failing check puts the router in FAULT on the node, as keepalived's
	// unweighted track does. For a file check it multiplies the number the file holds.
	// +optional
	// +kubebuilder:validation:Minimum=-253
	// +kubebuilder:validation:Maximum=253
	Weight *int32 `json:"weight,omitempty"`

	// interval between runs of an exec, http, tcp or file check; absent: 1s, as keepalived's
	// vrrp_script.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=24
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}h)?([0-9]{1,5}m)?([0-9]{1,5}(\.[0-9]{1,3})?s)?([0-9]{1,7}ms)?$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('100ms') && duration(self) <= duration('1h')",message="interval must be between 100ms and 1h"
	Interval *metav1.Duration `json:"interval,omitempty"`

	// timeout fails a run that takes longer (an exec check's process group is killed); absent:
	// the interval.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=24
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}h)?([0-9]{1,5}m)?([0-9]{1,5}(\.[0-9]{1,3})?s)?([0-9]{1,7}ms)?$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10ms') && duration(self) <= duration('1h')",message="timeout must be between 10ms and 1h"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// rise is how many passing runs in a row turn a failing check passing.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Rise *int32 `json:"rise,omitempty"`

	// fall is how many failing runs in a row turn a passing check failing.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Fall *int32 `json:"fall,omitempty"`

	// exec runs a program from the hook directory, as hooks do; exit status 0 passes.
	// +optional
	Exec *ExecCheck `json:"exec,omitempty"`

	// http gets a URL on the node; an expected status passes.
	// +optional
	HTTP *HTTPCheck `json:"http,omitempty"`

	// tcp connects to an address on the node; a connection passes.
	// +optional
	TCP *TCPCheck `json:"tcp,omitempty"`

	// interface follows another interface's link: up passes (keepalived's track_interface).
	// +optional
	Interface *InterfaceCheck `json:"interface,omitempty"`

	// file reads a decimal integer from a file (keepalived's track_file; a missing file holds 0):
	// with a weight the node's priority moves by weight times the number; without one, 0 passes
	// and anything else fails.
	// +optional
	File *FileCheck `json:"file,omitempty"`

	// pods passes while a Ready pod that matches runs on the node (cluster mode only; watched,
	// not polled).
	// +optional
	Pods *PodsCheck `json:"pods,omitempty"`
}

// ExecCheck is a program to run.
type ExecCheck struct {
	// command is the program (relative to the hook directory) and its arguments: an argv, no shell.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=1024
	Command []string `json:"command"`
}

// HTTPCheck is an HTTP GET.
type HTTPCheck struct {
	// url to get, http or https (not verified, as kubelet probes do), with an IP address or
	// localhost as its host: the node's own service, such as http://127.0.0.1:8404/healthz.
	// The rule reads the host with find and substring rather than url(self).getHostname(): the
	// API server cannot bound the size of getHostname's result, so isIP of it costs too much; the
	// port is a decimal from 1 to 65535 without leading zeros.
	// +required
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="isURL(self) && self.matches('^https?://(localhost|[0-9.]+|[[][0-9a-fA-F:.]+[]])(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(/.*)?$') && (self.matches('^https?://localhost') || isIP(self.matches('^https?://[[]') ? self.find('[[][0-9a-fA-F:.]+[]]').replace('[', '').replace(']', '') : self.find('//[0-9.]+').substring(2)))",message="url must be an http or https URL whose host is an IP address or localhost, with a port from 1 to 65535 if any, such as http://127.0.0.1:8404/healthz"
	URL string `json:"url"`

	// expectedStatus are the statuses that pass; absent: 200-399.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Minimum=100
	// +kubebuilder:validation:items:Maximum=599
	ExpectedStatus []int32 `json:"expectedStatus,omitempty"`
}

// TCPCheck is a TCP connection.
type TCPCheck struct {
	// address is IP:port or [IPv6]:port on the node, such as 127.0.0.1:5432.
	// +required
	// +kubebuilder:validation:MaxLength=53
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9.]+|[[][0-9a-fA-F.]*:[0-9a-fA-F:.]*[]]):[0-9]{1,5}$') && isIP(self.substring(0, self.lastIndexOf(':')).replace('[', '').replace(']', '')) && int(self.substring(self.lastIndexOf(':') + 1)) >= 1 && int(self.substring(self.lastIndexOf(':') + 1)) <= 65535",message="address must be IP:port or [IPv6]:port with a port from 1 to 65535, such as 127.0.0.1:5432"
	Address string `json:"address"`
}

// InterfaceCheck names an interface.
type InterfaceCheck struct {
	// name of the interface on the node.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[^/\s:]+$`
	Name string `json:"name"`
}

// FileCheck names a file.
type FileCheck struct {
	// path is the file's absolute path as the agent sees it (mount it into the agent's pod).
	// +required
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/`
	Path string `json:"path"`
}

// PodsCheck selects pods.
type PodsCheck struct {
	// namespace of the pods.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace"`

	// selector matches the pods by label; it must select something (an empty selector is refused).
	// +required
	// +kubebuilder:validation:XValidation:rule="has(self.matchLabels) && size(self.matchLabels) > 0 || has(self.matchExpressions) && size(self.matchExpressions) > 0",message="pods.selector must not be empty"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="pods.selector.matchExpressions operator must be In, NotIn, Exists or DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['Exists', 'DoesNotExist'] ? !has(e.values) || size(e.values) == 0 : !(e.operator in ['In', 'NotIn']) || has(e.values) && size(e.values) > 0)",message="pods.selector.matchExpressions values must be empty with Exists and DoesNotExist, and not empty with In and NotIn"
	Selector PodSelector `json:"selector"`
}

// PodSelector is a metav1.LabelSelector whose lists are bounded and whose keys and values the API
// server checks, so that what it admits the agent can parse. The API server estimates the cost of a
// rule from the longest list and string the schema allows: with up to 16 checks each of unbounded
// lists of unbounded strings, the rules here would exceed its budget and the CRD would be refused.
// LabelSelector converts it.
type PodSelector struct {
	// matchLabels: each pair is a requirement key In (value). OpenAPI cannot constrain a map's
	// keys, so a rule does; its size test comes first, bounding what the pattern reads.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 317 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$') && k.indexOf('/') <= 253)",message="pods.selector label keys must be a name of 1 to 63 letters, digits, '-', '_' or '.' that starts and ends with a letter or digit, after an optional DNS subdomain of at most 253 characters and '/', such as app.kubernetes.io/name"
	MatchLabels map[string]LabelValue `json:"matchLabels,omitempty"`

	// matchExpressions are requirements on labels, all of which must hold.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	MatchExpressions []PodSelectorRequirement `json:"matchExpressions,omitempty"`
}

// PodSelectorRequirement is a metav1.LabelSelectorRequirement whose key and values are checked.
type PodSelectorRequirement struct {
	// key is the label key the requirement applies to.
	// +required
	Key LabelKey `json:"key"`

	// operator is In, NotIn, Exists or DoesNotExist.
	// +required
	Operator metav1.LabelSelectorOperator `json:"operator"`

	// values: at least one with In and NotIn, none with Exists and DoesNotExist.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Values []LabelValue `json:"values,omitempty"`
}

// LabelKey is a label's key: a name, optionally after a DNS subdomain prefix and '/'
// (validation.IsQualifiedName). A rule rather than a pattern: a pattern cannot bound the prefix's
// length, and matchLabels' keys, which no pattern reaches, get the same rule and words.
// +kubebuilder:validation:MaxLength=317
// +kubebuilder:validation:XValidation:rule="self.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$') && self.indexOf('/') <= 253",message="pods.selector label keys must be a name of 1 to 63 letters, digits, '-', '_' or '.' that starts and ends with a letter or digit, after an optional DNS subdomain of at most 253 characters and '/', such as app.kubernetes.io/name"
type LabelKey string

// LabelValue is a label's value: empty, or up to 63 letters, digits, '-', '_' and '.' that start
// and end with a letter or digit (validation.IsValidLabelValue).
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`
type LabelValue string

// LabelSelector is s as the metav1.LabelSelector it stands for.
func (s *PodSelector) LabelSelector() *metav1.LabelSelector {
	out := &metav1.LabelSelector{}
	if s.MatchLabels != nil {
		out.MatchLabels = make(map[string]string, len(s.MatchLabels))
		for k, v := range s.MatchLabels {
			out.MatchLabels[k] = string(v)
		}
	}
	for _, e := range s.MatchExpressions {
		r := metav1.LabelSelectorRequirement{Key: string(e.Key), Operator: e.Operator}
		for _, v := range e.Values {
			r.Values = append(r.Values, string(v))
		}
		out.MatchExpressions = append(out.MatchExpressions, r)
	}
	return out
}

// NodePriority sets the priority of one node or of the nodes that match a selector.
// +kubebuilder:validation:XValidation:rule="has(self.node) != has(self.selector)",message="each nodePriorities entry needs exactly one of node or selector"
type NodePriority struct {
	// node is a node name.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Node string `json:"node,omitempty"`

	// selector matches nodes by label.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// priority for the matching nodes.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=254
	Priority int32 `json:"priority"`
}

// Authentication is VRRPv2 authentication with a password kept in a Secret.
type Authentication struct {
	// type is the authentication scheme; PASS is the only one VRRPv2 keeps (RFC 3768 §5.3.6).
	// +required
	Type AuthenticationType `json:"type"`

	// secretRef points at the password.
	// +required
	SecretRef SecretKeyReference `json:"secretRef"`
}

// SecretKeyReference names one key of a Secret.
type SecretKeyReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// namespace of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`

	// key in the Secret's data.
	// +optional
	// +kubebuilder:default=password
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// Failover says how nodes react to administrative actions.
type Failover struct {
	// onCordon: Demote (priority 1, the best backup takes over at once), Release (leave the router)
	// or Ignore.
	// +optional
	// +kubebuilder:default=Demote
	OnCordon CordonPolicy `json:"onCordon,omitempty"`
}

// GARP tunes address announcements after a node becomes Master.
type GARP struct {
	// count is how many announcements a new Master sends per address.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Count int32 `json:"count,omitempty"`

	// interval between those announcements.
	// +optional
	// +kubebuilder:default="1100ms"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=24
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}h)?([0-9]{1,5}m)?([0-9]{1,5}(\.[0-9]{1,3})?s)?([0-9]{1,7}ms)?$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10ms') && duration(self) <= duration('1m')",message="garp.interval must be between 10ms and 1m"
	Interval *metav1.Duration `json:"interval,omitempty"`

	// refresh repeats the announcements this often while Master; 0 or absent: never.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=24
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}h)?([0-9]{1,5}m)?([0-9]{1,5}(\.[0-9]{1,3})?s)?([0-9]{1,7}ms)?$`
	// +kubebuilder:validation:XValidation:rule="duration(self) == duration('0s') || duration(self) >= duration('1s')",message="garp.refresh must be 0 (off) or at least 1s"
	Refresh *metav1.Duration `json:"refresh,omitempty"`
}

// Hooks are programs run on transitions. Each command is an argv (no shell); its first element names
// a program inside the agent's hook directory.
type Hooks struct {
	// notify runs on every transition, keepalived-style, as: COMMAND... INSTANCE <name> <STATE> <priority>.
	// +optional
	Notify *Hook `json:"notify,omitempty"`

	// master runs on becoming MASTER.
	// +optional
	Master *Hook `json:"master,omitempty"`

	// backup runs on becoming BACKUP.
	// +optional
	Backup *Hook `json:"backup,omitempty"`

	// fault runs on entering FAULT.
	// +optional
	Fault *Hook `json:"fault,omitempty"`

	// stop runs when the node leaves the router: agent shutdown, maintenance, or deletion.
	// +optional
	Stop *Hook `json:"stop,omitempty"`

	// timeout kills a hook (its whole process group) that runs longer.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=24
	// +kubebuilder:validation:Pattern=`^([0-9]{1,5}h)?([0-9]{1,5}m)?([0-9]{1,5}(\.[0-9]{1,3})?s)?([0-9]{1,7}ms)?$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('1h')",message="hooks.timeout must be positive and at most 1h"
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// Hook is one program to run.
type Hook struct {
	// command is the program (relative to the hook directory) and its arguments.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=1024
	Command []string `json:"command"`
}

// RouterState is a node's VRRP state for one virtual router.
// +kubebuilder:validation:Enum=INIT;BACKUP;MASTER;FAULT;STOPPED
type RouterState string

const (
	StateInit    RouterState = "INIT"
	StateBackup  RouterState = "BACKUP"
	StateMaster  RouterState = "MASTER"
	StateFault   RouterState = "FAULT"
	StateStopped RouterState = "STOPPED"
)

// Condition types and reasons of VirtualIP status.
const (
	// ConditionReady is True when exactly one node is MASTER.
	ConditionReady = "Ready"
	// ConditionDegraded is True when something needs attention; its reason says what.
	ConditionDegraded = "Degraded"

	ReasonOneMaster        = "OneMaster"
	ReasonSplitBrain       = "SplitBrain"
	ReasonNoMaster         = "NoMaster"
	ReasonRouterIDConflict = "RouterIDConflict"
	ReasonHookFailed       = "HookFailed"
	ReasonHealthy          = "Healthy"
	// ReasonFlapping: gaps without exactly one Master keep coming (Degraded only: through those
	// shorter than the protocol's bound the controller's summary keeps the last Master).
	ReasonFlapping = "Flapping"
	// ReasonCheckFailed: a check of spec.track without a weight fails on the node (its FAULT).
	ReasonCheckFailed = "CheckFailed"
	// ReasonInvalidSpec: the spec holds what no agent can run and the API server let through (a
	// selector that does not parse, or an object stored before a validation rule existed).
	ReasonInvalidSpec = "InvalidSpec"
)

// MaxListedNodes bounds status.nodes. The agents of the first MaxListedNodes nodes by name among
// those a VirtualIP selects write an entry each; a node after them writes one only while it is
// MASTER, so that status.master and the Master's hooks stay visible. Unicast VirtualIPs list every
// node: the entries publish the addresses the peers send to. Every entry makes each write
// of the one object dearer, about 1 KB with its managedFields: an apply took 26 ms at 25 entries,
// 106 ms at 200 and 205 ms at 400 on an API server of two cores (BenchmarkFleet), and etcd refuses
// an object past 1.5 MB, which a few thousand entries would reach. The nodes of a VirtualIP that
// selects more are told by their Events and their agents' metrics.
const MaxListedNodes = 100

// VirtualIPStatus is what the agents and the controller observe.
type VirtualIPStatus struct {
	// conditions: Ready (exactly one MASTER) and Degraded.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation the controller last summarised.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// master is the node that holds the addresses, empty when none or several do.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Master string `json:"master,omitempty"`

	// nodes has one entry per participating node, written by that node's agent: the first 100
	// selected nodes by name, and any other node while it is MASTER (every node of a unicast
	// VirtualIP). The Ready condition's message counts the nodes beyond the first 100; their agents
	// still record their transitions as Events, but for their start as BACKUP or STOPPED.
	// +optional
	// +listType=map
	// +listMapKey=node
	// +kubebuilder:validation:MaxItems=5000
	Nodes []NodeStatus `json:"nodes,omitempty"`
}

// NodeStatus is one node's view of one virtual router.
type NodeStatus struct {
	// node is the node name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Node string `json:"node"`

	// state is the node's VRRP state.
	// +required
	State RouterState `json:"state"`

	// priority is the node's effective priority, after cordon, maintenance and preference.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=255
	Priority int32 `json:"priority,omitempty"`

	// reason explains the priority or state: Cordoned, Maintenance, Excluded, Preferred, InterfaceDown...
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Reason string `json:"reason,omitempty"`

	// message is a human-readable detail.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// interface is the network interface the router runs on this node.
	// +optional
	// +kubebuilder:validation:MaxLength=15
	Interface string `json:"interface,omitempty"`

	// address is this node's address on that interface, in the router's family: the source of its
	// unicast adverts and where the other nodes send theirs (unicast), which may differ from the
	// node's InternalIP. Agents send to a node's InternalIPs until it has published one. A unicast
	// VirtualIP lists every node it selects, beyond MaxListedNodes too.
	// +optional
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self) && !ip(self).isUnspecified() && !ip(self).isLinkLocalUnicast()",message="address must be an IP address, not unspecified or link-local"
	Address string `json:"address,omitempty"`

	// lastTransitionTime is when state last changed.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`

	// lastHook is the result of the last hook run for this router on this node.
	// +optional
	LastHook *HookResult `json:"lastHook,omitempty"`

	// checks are the states of spec.track on this node; priority is the result.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Checks []CheckStatus `json:"checks,omitempty"`
}

// CheckState is the state of one check on one node.
// +kubebuilder:validation:Enum=Passing;Failing;Unknown
type CheckState string

const (
	CheckPassing CheckState = "Passing"
	CheckFailing CheckState = "Failing"
	// CheckUnknown: no run has finished yet (an exec check's program could not be run at all);
	// it adds nothing to the priority and puts the router in no FAULT.
	CheckUnknown CheckState = "Unknown"
)

// CheckStatus is one check's state on one node.
type CheckStatus struct {
	// name of the check in spec.track.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// state: Passing, Failing, or Unknown before the first run (also while a new exec check's
	// program cannot be run: its message says why).
	// +required
	State CheckState `json:"state"`

	// weight this check adds to the node's priority now; 0 when it adds none (or, failing without
	// a weight, puts the router in FAULT).
	// +optional
	Weight int32 `json:"weight,omitempty"`

	// since is when state last changed.
	// +optional
	Since *metav1.Time `json:"since,omitempty"`

	// message is the last line the check gave when its state changed: the program's output, the
	// HTTP status, the error.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Message string `json:"message,omitempty"`
}

// HookResult is the outcome of one hook run.
type HookResult struct {
	// kind is notify, master, backup, fault or stop.
	// +required
	// +kubebuilder:validation:MaxLength=16
	Kind string `json:"kind"`

	// exitCode of the program; -1 when it could not start or was killed.
	// +optional
	ExitCode int32 `json:"exitCode"`

	// timedOut is true when the hook was killed at the timeout.
	// +optional
	TimedOut bool `json:"timedOut,omitempty"`

	// duration the hook ran.
	// +optional
	Duration *metav1.Duration `json:"duration,omitempty"`

	// startTime is when it started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// output is the end of what the hook printed.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Output string `json:"output,omitempty"`
}

// VirtualIP is a VRRP virtual router: a set of addresses that one node at a time holds.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=vip,categories=vrrp
// +kubebuilder:printcolumn:name="VRID",type=integer,JSONPath=`.spec.virtualRouterID`
// +kubebuilder:printcolumn:name="Addresses",type=string,JSONPath=`.spec.addresses`
// +kubebuilder:printcolumn:name="Master",type=string,JSONPath=`.status.master`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Version",type=integer,JSONPath=`.spec.version`,priority=1
// +kubebuilder:printcolumn:name="Interval",type=string,JSONPath=`.spec.advertInterval`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type VirtualIP struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the virtual router.
	// +required
	Spec VirtualIPSpec `json:"spec"`

	// status is written by the agents (their own nodes entry) and the controller (the rest).
	// +optional
	Status VirtualIPStatus `json:"status,omitempty"`
}

// VirtualIPList is a list of VirtualIPs.
//
// +kubebuilder:object:root=true
type VirtualIPList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualIP `json:"items"`
}

func init() {
	SchemeBuilder.Register(&VirtualIP{}, &VirtualIPList{})
}

package kube

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/manifests"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// SnapshotFile, in the state directory, holds the last inputs the agent derived its routers from,
// in the format of `agent --config`. An agent that starts while the API server is away runs on it,
// as keepalived runs on its configuration file, instead of leaving the node out of every router;
// the API server's view replaces it as soon as the caches sync. It holds the VRRP passwords this
// node's routers use (the referenced key of each Secret, nothing else), so it is readable by root
// only, like keepalived.conf. Its modification time is when the API server was last known to
// answer while the agent ran on what the file holds: the age that --last-known-max-age bounds. A
// cache that stopped hearing from the API server does not make the file look younger.
const SnapshotFile = "last-known.yaml"

// confirmEvery is how often the agent checks that the API server answers, and so brings the
// snapshot's modification time up to date: its age is known to within this.
const confirmEvery = time.Minute

// snapshot reads and writes SnapshotFile.
type snapshot struct {
	path string
	off  bool   // --last-known-max-age=0: nothing is written, a file left over is removed
	last []byte // what the file holds
	// saved says last was derived by this agent from its caches; a file only loaded is not
	// confirmed by the API server answering now, as the caches may say otherwise.
	saved bool
	// confirmed is the last evidence that the API server answered; stamped is the modification
	// time the file was given, which follows confirmed.
	confirmed, stamped time.Time
}

func newSnapshot(stateDir string) *snapshot {
	return &snapshot{path: filepath.Join(stateDir, SnapshotFile)}
}

// disable stops the snapshot from being written and removes the file: an agent that never runs
// on it has no reason to keep passwords on disk.
func (s *snapshot) disable() error {
	s.off = true
	// The temporary file of a save cut short by a kill holds the same passwords.
	for _, p := range []string{s.path, s.path + ".tmp"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the last known configuration: %w", err)
		}
	}
	return nil
}

// load returns the inputs of the last run and when the API server last confirmed them, false when
// there is none.
func (s *snapshot) load() (in desired.Inputs, saved time.Time, ok bool, err error) {
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return desired.Inputs{}, time.Time{}, false, nil
	}
	if err != nil {
		return desired.Inputs{}, time.Time{}, false, fmt.Errorf("reading the last known configuration: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return desired.Inputs{}, time.Time{}, false, fmt.Errorf("reading the last known configuration: %w", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return desired.Inputs{}, time.Time{}, false, fmt.Errorf("reading the last known configuration: %w", err)
	}
	objs, err := manifests.Load(bytes.NewReader(b))
	if err != nil {
		return desired.Inputs{}, time.Time{}, false, fmt.Errorf("loading the last known configuration %s: %w", s.path, err)
	}
	s.last, s.stamped = b, fi.ModTime()
	return desired.Inputs{Nodes: objs.Nodes, VirtualIPs: objs.VirtualIPs, Secrets: objs.Secrets}, fi.ModTime(), true, nil
}

// save writes in, with only the Secrets res uses, when it differs from what the file holds,
// atomically, and gives the file the modification time of the last confirmation (confirm): content
// written from a cache gets no younger than the API server's last answer.
func (s *snapshot) save(in desired.Inputs, res desired.Result) error {
	if s.off {
		return nil
	}
	// Each object is a JSON document, which is YAML too: `agent --config` reads the file as it is.
	// Every derivation encodes the whole configuration to see whether it changed, and encoding it
	// as YAML (JSON converted to YAML) took a sixth of an agent's CPU through a handover.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", " ")
	put := func(obj any) error {
		buf.WriteString("---\n")
		return enc.Encode(obj)
	}
	// Only what derivation reads is kept (derivedVirtualIP, derivedNode): a resourceVersion, or a
	// status entry's state, would rewrite the file on every status write anywhere in the cluster.
	// In the order of their names: a cache lists in no order, and the file was written again at
	// nearly every derivation.
	vips := slices.SortedFunc(slices.Values(in.VirtualIPs), func(a, b vrrpv1.VirtualIP) int { return strings.Compare(a.Name, b.Name) })
	nodes := slices.SortedFunc(slices.Values(in.Nodes), func(a, b corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	secrets := slices.SortedFunc(slices.Values(usedSecrets(in, res)), func(a, b corev1.Secret) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	for _, v := range vips {
		v := derivedVirtualIP(v)
		v.TypeMeta = vrrpTypeMeta
		if err := put(v); err != nil {
			return fmt.Errorf("encoding VirtualIP %s: %w", v.Name, err)
		}
	}
	for _, n := range nodes {
		n := derivedNode(n)
		n.TypeMeta = nodeTypeMeta
		if err := put(n); err != nil {
			return fmt.Errorf("encoding Node %s: %w", n.Name, err)
		}
	}
	for _, sec := range secrets {
		sec = corev1.Secret{TypeMeta: secretTypeMeta, Data: sec.Data, Type: sec.Type,
			ObjectMeta: metav1.ObjectMeta{Name: sec.Name, Namespace: sec.Namespace}}
		if err := put(sec); err != nil {
			return fmt.Errorf("encoding Secret %s/%s: %w", sec.Namespace, sec.Name, err)
		}
	}
	if !bytes.Equal(buf.Bytes(), s.last) {
		tmp := s.path + ".tmp" // disable removes it too
		if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
			return fmt.Errorf("writing the last known configuration: %w", err)
		}
		// The new file's own modification time is now, which nothing confirmed.
		if err := s.stampFile(tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, s.path); err != nil {
			return fmt.Errorf("writing the last known configuration: %w", err)
		}
		s.last, s.stamped = buf.Bytes(), s.stampTime()
	}
	s.saved = true
	return s.stamp()
}

// confirm records that the API server answered at, and brings the file's modification time up
// to it. The caller calls it on evidence only (the caches synced, a read from the API server), not
// on every derivation: the cache goes on serving its last state while the API server is away.
func (s *snapshot) confirm(at time.Time) error {
	if at.After(s.confirmed) {
		s.confirmed = at
	}
	return s.stamp()
}

// stamp gives the file the modification time of the last confirmation, if it has another.
func (s *snapshot) stamp() error {
	if s.off || !s.saved || s.stamped.Equal(s.stampTime()) {
		return nil
	}
	if err := s.stampFile(s.path); err != nil {
		return err
	}
	s.stamped = s.stampTime()
	return nil
}

func (s *snapshot) stampFile(path string) error {
	t := s.stampTime()
	if err := os.Chtimes(path, t, t); err != nil {
		return fmt.Errorf("dating the last known configuration: %w", err)
	}
	return nil
}

// stampTime is the modification time the file should have: the last confirmation, or, with none,
// the epoch, an age that no limit accepts (a zero time would leave the write's time).
func (s *snapshot) stampTime() time.Time {
	if s.confirmed.IsZero() {
		return time.Unix(0, 0)
	}
	return s.confirmed
}

// derivedVirtualIP is the part of v that derivation reads: what its result depends on. The
// creation time settles a reused VRID (the older VirtualIP runs) and the published addresses are
// the unicast peers: without them another router would run, or adverts go where no peer listens.
func derivedVirtualIP(v vrrpv1.VirtualIP) vrrpv1.VirtualIP {
	return vrrpv1.VirtualIP{
		ObjectMeta: metav1.ObjectMeta{Name: v.Name, Labels: v.Labels, Annotations: v.Annotations,
			CreationTimestamp: v.CreationTimestamp},
		Spec:   v.Spec,
		Status: vrrpv1.VirtualIPStatus{Nodes: publishedAddresses(v.Status.Nodes)},
	}
}

// derivedNode is the part of n that derivation reads: labels (selectors, the exclude label),
// annotations (maintenance), cordon, and the addresses of unicast peers.
func derivedNode(n corev1.Node) corev1.Node {
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels, Annotations: n.Annotations},
		Spec:       corev1.NodeSpec{Unschedulable: n.Spec.Unschedulable},
		Status:     corev1.NodeStatus{Addresses: n.Status.Addresses},
	}
}

// publishedAddresses keeps of status entries the node and its published address, which are the
// unicast peers, and nothing that changes with the routers' state.
func publishedAddresses(entries []vrrpv1.NodeStatus) []vrrpv1.NodeStatus {
	var out []vrrpv1.NodeStatus
	for _, e := range entries {
		if e.Address != "" {
			out = append(out, vrrpv1.NodeStatus{Node: e.Node, Address: e.Address})
		}
	}
	slices.SortFunc(out, func(a, b vrrpv1.NodeStatus) int { return strings.Compare(a.Node, b.Node) })
	return out
}

// usedSecrets are the Secrets of in, with only the referenced keys, that the VirtualIPs this node
// takes part in use: the nodes a VirtualIP does not select keep none of its password.
func usedSecrets(in desired.Inputs, res desired.Result) []corev1.Secret {
	here := map[string]bool{}
	for _, r := range res.Routers {
		here[r.Name] = true
	}
	for _, e := range res.Errors {
		// A spec that cannot be read (a bad nodeSelector) fails on every node, selected or not.
		if !errors.Is(e, desired.ErrInvalidSpec) {
			here[e.Name] = true
		}
	}
	keys := map[types.NamespacedName]map[string]bool{}
	for _, v := range in.VirtualIPs {
		a := v.Spec.Authentication
		if a == nil || !here[v.Name] {
			continue
		}
		key := types.NamespacedName{Namespace: a.SecretRef.Namespace, Name: a.SecretRef.Name}
		if keys[key] == nil {
			keys[key] = map[string]bool{}
		}
		keys[key][desired.SecretKey(a.SecretRef)] = true
	}
	var out []corev1.Secret
	for _, sec := range in.Secrets {
		if k := keys[types.NamespacedName{Namespace: sec.Namespace, Name: sec.Name}]; k != nil {
			out = append(out, trimSecret(sec, k))
		}
	}
	return out
}

var (
	vrrpTypeMeta   = metav1.TypeMeta{APIVersion: vrrpv1.GroupVersion.String(), Kind: "VirtualIP"}
	nodeTypeMeta   = metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}
	secretTypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}
)

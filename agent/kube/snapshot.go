package kube

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/manifests"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// SnapshotFile, in the state directory, holds the last inputs the agent derived its routers from,
// in the format of `agent --config`. An agent that starts while the API server is away runs on it,
// as keepalived runs on its configuration file, instead of leaving the node out of every router;
// the API server's view replaces it as soon as the caches sync. It holds the VRRP passwords this
// node's routers use (the referenced key of each Secret, nothing else), so it is readable by root
// only, like keepalived.conf. Its modification time is when the agent last derived the same
// configuration from the API server: the age that --last-known-max-age bounds.
const SnapshotFile = "last-known.yaml"

// confirmEvery is how often an unchanged snapshot's modification time is brought up to date: its
// age is known to within this.
const confirmEvery = time.Minute

// snapshot reads and writes SnapshotFile.
type snapshot struct {
	path      string
	last      []byte
	confirmed time.Time // when the file's modification time was last set
}

func newSnapshot(stateDir string) *snapshot {
	return &snapshot{path: filepath.Join(stateDir, SnapshotFile)}
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
	s.last, s.confirmed = b, fi.ModTime()
	return desired.Inputs{Nodes: objs.Nodes, VirtualIPs: objs.VirtualIPs, Secrets: objs.Secrets}, fi.ModTime(), true, nil
}

// save writes in, with only the Secrets res uses, when it differs from what the file holds,
// atomically; otherwise it brings the file's modification time up to date, now and then.
func (s *snapshot) save(in desired.Inputs, res desired.Result) error {
	var buf bytes.Buffer
	put := func(obj any) error {
		b, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		buf.WriteString("---\n")
		buf.Write(b)
		return nil
	}
	// Only what derivation reads is kept: a resourceVersion would rewrite the file on every status
	// write anywhere in the cluster.
	for _, v := range in.VirtualIPs {
		v.TypeMeta = vrrpTypeMeta
		v.ObjectMeta = metav1.ObjectMeta{Name: v.Name, Labels: v.Labels, Annotations: v.Annotations}
		v.Status = vrrpv1.VirtualIPStatus{}
		if err := put(v); err != nil {
			return fmt.Errorf("encoding VirtualIP %s: %w", v.Name, err)
		}
	}
	for _, n := range in.Nodes {
		n = corev1.Node{TypeMeta: nodeTypeMeta,
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels, Annotations: n.Annotations},
			Spec:       corev1.NodeSpec{Unschedulable: n.Spec.Unschedulable},
			Status:     corev1.NodeStatus{Addresses: n.Status.Addresses}}
		if err := put(n); err != nil {
			return fmt.Errorf("encoding Node %s: %w", n.Name, err)
		}
	}
	for _, sec := range usedSecrets(in, res) {
		sec = corev1.Secret{TypeMeta: secretTypeMeta, Data: sec.Data, Type: sec.Type,
			ObjectMeta: metav1.ObjectMeta{Name: sec.Name, Namespace: sec.Namespace}}
		if err := put(sec); err != nil {
			return fmt.Errorf("encoding Secret %s/%s: %w", sec.Namespace, sec.Name, err)
		}
	}
	now := time.Now()
	if bytes.Equal(buf.Bytes(), s.last) {
		if now.Sub(s.confirmed) < confirmEvery {
			return nil
		}
		if err := os.Chtimes(s.path, now, now); err != nil {
			return fmt.Errorf("confirming the last known configuration: %w", err)
		}
		s.confirmed = now
		return nil
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("writing the last known configuration: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("writing the last known configuration: %w", err)
	}
	s.last, s.confirmed = buf.Bytes(), now
	return nil
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
		keys[key][secretKey(a.SecretRef)] = true
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

package kube

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	"github.com/vrrp-dev/vrrp-operator/agent/manifests"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// SnapshotFile, in the state directory, holds the last inputs the agent derived its routers from,
// in the format of `agent --config`. An agent that starts while the API server is away runs on it,
// as keepalived runs on its configuration file, instead of leaving the node out of every router;
// the API server's view replaces it as soon as the caches sync. It holds the VRRP passwords of the
// Secrets it read, so it is readable by root only, like keepalived.conf.
const SnapshotFile = "last-known.yaml"

// snapshot reads and writes SnapshotFile.
type snapshot struct {
	path string
	last []byte
}

func newSnapshot(stateDir string) *snapshot {
	return &snapshot{path: filepath.Join(stateDir, SnapshotFile)}
}

// load returns the inputs of the last run, false when there is none.
func (s *snapshot) load() (desired.Inputs, bool, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return desired.Inputs{}, false, nil
	}
	if err != nil {
		return desired.Inputs{}, false, fmt.Errorf("reading the last known configuration: %w", err)
	}
	objs, err := manifests.Load(bytes.NewReader(b))
	if err != nil {
		return desired.Inputs{}, false, fmt.Errorf("loading the last known configuration %s: %w", s.path, err)
	}
	s.last = b
	return desired.Inputs{Nodes: objs.Nodes, VirtualIPs: objs.VirtualIPs, Secrets: objs.Secrets}, true, nil
}

// save writes in when it differs from what the file holds, atomically.
func (s *snapshot) save(in desired.Inputs) error {
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
	for _, sec := range in.Secrets {
		sec = corev1.Secret{TypeMeta: secretTypeMeta, Data: sec.Data, Type: sec.Type,
			ObjectMeta: metav1.ObjectMeta{Name: sec.Name, Namespace: sec.Namespace}}
		if err := put(sec); err != nil {
			return fmt.Errorf("encoding Secret %s/%s: %w", sec.Namespace, sec.Name, err)
		}
	}
	if bytes.Equal(buf.Bytes(), s.last) {
		return nil
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("writing the last known configuration: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("writing the last known configuration: %w", err)
	}
	s.last = buf.Bytes()
	return nil
}

var (
	vrrpTypeMeta   = metav1.TypeMeta{APIVersion: vrrpv1.GroupVersion.String(), Kind: "VirtualIP"}
	nodeTypeMeta   = metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}
	secretTypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}
)

package kube

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vrrp-dev/vrrp-operator/agent/desired"
	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// secretGrace is how many resyncs a referenced Secret may be missing before the routers that use it
// stop: long enough to ride out a Secret deleted and created again (kubectl replace --force, a
// GitOps tool), short enough that a Secret really deleted is reported within a minute.
const secretGrace = 3

// helmReleaseSecret is the type of the Secrets where Helm keeps its releases, in the release
// namespace, which is the agent's: large, and never a VRRP password.
const helmReleaseSecret corev1.SecretType = "helm.sh/release.v1"

// secretStore hands Derive the Secrets that VirtualIPs reference, read from the cache of the
// agent's namespace, which the agent watches: a rotated password reaches every node with the watch
// event, not at the next resync. Only the referenced keys are kept. A Secret that goes missing is
// replaced by its last known copy for grace, so that a Secret deleted and created again does not
// stop every router at once; after that its routers report it missing.
type secretStore struct {
	reader    client.Reader // the manager's cache
	namespace string
	grace     time.Duration
	now       func() time.Time
	log       logr.Logger

	mu      sync.Mutex
	known   map[types.NamespacedName]corev1.Secret // last good copy, referenced keys only
	missing map[types.NamespacedName]time.Time     // since when a known Secret is missing
}

func newSecretStore(namespace string, grace time.Duration, log logr.Logger) *secretStore {
	return &secretStore{namespace: namespace, grace: grace, now: time.Now, log: log,
		known: map[types.NamespacedName]corev1.Secret{}, missing: map[types.NamespacedName]time.Time{}}
}

// seed makes secrets the last good copies, as read from the last known configuration, so that a
// Secret missing when the API server returns gets the same grace as one that goes missing later.
func (s *secretStore) seed(secrets []corev1.Secret) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sec := range secrets {
		if sec.Namespace == s.namespace {
			s.known[types.NamespacedName{Namespace: sec.Namespace, Name: sec.Name}] = sec
		}
	}
}

// referenced returns the Secrets of the agent's namespace that the VirtualIPs reference, with the
// referenced keys only. References to other namespaces are not read: Derive refuses them.
func (s *secretStore) referenced(ctx context.Context, vips []vrrpv1.VirtualIP) []corev1.Secret {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[types.NamespacedName]map[string]bool{}
	for _, v := range vips {
		a := v.Spec.Authentication
		if a == nil || a.SecretRef.Namespace != s.namespace {
			continue
		}
		key := types.NamespacedName{Namespace: a.SecretRef.Namespace, Name: a.SecretRef.Name}
		if want[key] == nil {
			want[key] = map[string]bool{}
		}
		want[key][secretKey(a.SecretRef)] = true
	}
	now := s.now()
	var out []corev1.Secret
	for key, keys := range want {
		var sec corev1.Secret
		err := s.reader.Get(ctx, key, &sec)
		switch {
		case err == nil:
			s.known[key] = trimSecret(sec, keys)
			delete(s.missing, key)
		case apierrors.IsNotFound(err):
			s.gone(key, now)
		default:
			s.log.V(1).Info("reading a Secret, keeping the last good copy", "secret", key.String(), "error", err.Error())
		}
		if sec, ok := s.known[key]; ok {
			out = append(out, sec)
		}
	}
	for key := range s.known {
		if want[key] == nil {
			delete(s.known, key)
			delete(s.missing, key)
		}
	}
	return out
}

// gone handles a referenced Secret that is not found: its last known copy stands for the grace,
// then it is forgotten and Derive reports it missing.
func (s *secretStore) gone(key types.NamespacedName, now time.Time) {
	if _, ok := s.known[key]; !ok {
		return
	}
	since, ok := s.missing[key]
	if !ok {
		s.missing[key] = now
		s.log.Info("Secret not found; keeping its last known password for a while", "secret", key.String(), "for", s.grace.String())
		return
	}
	if now.Sub(since) >= s.grace {
		s.log.Info("Secret still not found; the routers that use it stop", "secret", key.String(), "after", now.Sub(since).String())
		delete(s.known, key)
		delete(s.missing, key)
	}
}

// secretKey is the key of a reference, defaulted as the API server defaults it.
func secretKey(ref vrrpv1.SecretKeyReference) string {
	if ref.Key == "" {
		return desired.DefaultSecretKey
	}
	return ref.Key
}

// trimSecret keeps of sec what Derive reads: its name and the given keys of its data.
func trimSecret(sec corev1.Secret, keys map[string]bool) corev1.Secret {
	out := corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: sec.Name, Namespace: sec.Namespace}, Type: sec.Type}
	for k := range keys {
		if v, ok := sec.Data[k]; ok {
			if out.Data == nil {
				out.Data = map[string][]byte{}
			}
			out.Data[k] = v
		}
	}
	return out
}

// slimSecret is the cache's transform of Secrets: their data, without the annotations (which hold
// a copy of the whole Secret after kubectl apply), labels and managed fields, and without the data of
// Helm's releases.
func slimSecret(obj any) (any, error) {
	sec, ok := obj.(*corev1.Secret)
	if !ok {
		return obj, nil
	}
	out := &corev1.Secret{TypeMeta: sec.TypeMeta, Type: sec.Type,
		ObjectMeta: metav1.ObjectMeta{Name: sec.Name, Namespace: sec.Namespace, UID: sec.UID, ResourceVersion: sec.ResourceVersion}}
	if sec.Type != helmReleaseSecret {
		out.Data = sec.Data
	}
	return out, nil
}

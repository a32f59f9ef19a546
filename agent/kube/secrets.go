package kube

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// secretFresh is how long a Secret read (or a failure to read it) stands before the agent asks the
// API server again: syncs come in bursts, and an unreachable API server must not slow each down.
const secretFresh = 5 * time.Second

// secretStore reads the Secrets that VirtualIPs reference, by name. The agent needs get on Secrets,
// not list or watch on every Secret of the cluster; password rotation is picked up at the next
// resync. The last good copy of each Secret is kept, so routers keep their password while the API
// server is away.
type secretStore struct {
	reader client.Reader
	log    logr.Logger

	mu    sync.Mutex
	known map[types.NamespacedName]corev1.Secret
	asked map[types.NamespacedName]time.Time
}

// seed makes secrets the last good copies, as read from the last known configuration, so that a
// read that fails after the API server returns does not cost a router its password.
func (s *secretStore) seed(secrets []corev1.Secret) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sec := range secrets {
		s.known[types.NamespacedName{Namespace: sec.Namespace, Name: sec.Name}] = sec
	}
}

func newSecretStore(r client.Reader) *secretStore {
	return &secretStore{reader: r, known: map[types.NamespacedName]corev1.Secret{}, asked: map[types.NamespacedName]time.Time{}}
}

// referenced returns the Secrets the VirtualIPs reference, as fresh as the API server allows.
func (s *secretStore) referenced(ctx context.Context, vips []vrrpv1.VirtualIP) []corev1.Secret {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[types.NamespacedName]bool{}
	for _, v := range vips {
		if a := v.Spec.Authentication; a != nil {
			want[types.NamespacedName{Namespace: a.SecretRef.Namespace, Name: a.SecretRef.Name}] = true
		}
	}
	var out []corev1.Secret
	for key := range want {
		if t, ok := s.asked[key]; !ok || time.Since(t) > secretFresh {
			s.asked[key] = time.Now()
			s.fetch(ctx, key)
		}
		if sec, ok := s.known[key]; ok {
			out = append(out, sec)
		}
	}
	for key := range s.asked {
		if !want[key] {
			delete(s.known, key)
			delete(s.asked, key)
		}
	}
	return out
}

func (s *secretStore) fetch(ctx context.Context, key types.NamespacedName) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var sec corev1.Secret
	err := s.reader.Get(ctx, key, &sec)
	switch {
	case err == nil:
		s.known[key] = corev1.Secret{ObjectMeta: sec.ObjectMeta, Data: sec.Data}
	case client.IgnoreNotFound(err) == nil:
		// Deleted: the router must stop using the old password (Derive reports the missing Secret).
		delete(s.known, key)
	default:
		s.log.V(1).Info("reading a Secret, keeping the last good copy", "secret", key.String(), "error", err.Error())
	}
}

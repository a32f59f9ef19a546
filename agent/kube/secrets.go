package kube

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
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

// notPasswords are the types of Secret whose data is never a VRRP password: the cache keeps none
// of it, so that the agent on every node does not hold the credentials that share its namespace.
var notPasswords = map[corev1.SecretType]bool{
	helmReleaseSecret:                    true,
	corev1.SecretTypeServiceAccountToken: true,
	corev1.SecretTypeDockercfg:           true,
	corev1.SecretTypeDockerConfigJson:    true,
	corev1.SecretTypeTLS:                 true,
	corev1.SecretTypeSSHAuth:             true,
	corev1.SecretTypeBootstrapToken:      true,
}

// secretStore hands Derive the Secrets that VirtualIPs reference, read from the cache of the
// agent's namespace, which the agent watches: a rotated password reaches every node with the watch
// event, not at the next resync. Only the referenced keys are kept. A Secret that goes missing is
// replaced by its last known copy for grace, so that a Secret deleted and created again does not
// stop every router at once; after that its routers report it missing. The same grace covers a
// cache of Secrets that has not listed yet.
type secretStore struct {
	reader    client.Reader // the manager's cache
	namespace string        // "": unknown, no Secret is read
	grace     time.Duration
	now       func() time.Time
	log       logr.Logger

	mu      sync.Mutex
	synced  func() bool                            // whether the cache of Secrets has listed; nil: it has
	listErr error                                  // why it has not, from its last failed list
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

// setSynced tells the store whether its cache has listed: until it has, reading it would block.
func (s *secretStore) setSynced(synced func() bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.synced = synced
}

// watchError is the cache's handler of failed lists and watches: it keeps the last error of the
// Secrets' for the routers that wait for them, and logs as client-go does.
func (s *secretStore) watchError(ctx context.Context, r *toolscache.Reflector, err error) {
	if r.TypeDescription() == secretType {
		s.mu.Lock()
		if s.listErr == nil || s.listErr.Error() != err.Error() {
			s.log.Info("cannot list the Secrets of the agent's namespace; VirtualIPs with authentication wait for them",
				"namespace", s.namespace, "error", err.Error())
		}
		s.listErr = err
		s.mu.Unlock()
	}
	toolscache.DefaultWatchErrorHandler(ctx, r, err)
}

// secretType is how client-go's reflector names the Secrets' type.
var secretType = fmt.Sprintf("%T", &corev1.Secret{})

// listError says why the Secrets are not listed yet.
func (s *secretStore) listError() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unlisted()
}

// unlisted says why the Secrets are not listed yet; s.mu is held.
func (s *secretStore) unlisted() string {
	switch {
	case s.listErr == nil:
		return "not listed yet"
	case apierrors.IsForbidden(s.listErr):
		return "forbidden (is the agent's Role or RoleBinding there missing?)"
	default:
		return s.listErr.Error()
	}
}

// isSynced reports whether the cache of Secrets can be read; s.mu is held.
func (s *secretStore) isSynced() bool {
	if s.synced == nil || s.synced() {
		s.listErr = nil
		return true
	}
	return false
}

// referenced returns the Secrets of the agent's namespace that the VirtualIPs reference, with the
// referenced keys only. References to other namespaces are not read: Derive refuses them.
func (s *secretStore) referenced(ctx context.Context, vips []vrrpv1.VirtualIP) []corev1.Secret {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.namespace == "" {
		return nil
	}
	synced := s.isSynced()
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
		want[key][desired.SecretKey(a.SecretRef)] = true
	}
	now := s.now()
	var out []corev1.Secret
	for key, keys := range want {
		if !synced {
			// The cache would block; the last good copies stand in, for the grace.
			s.gone(key, now, "cannot list Secrets in namespace "+s.namespace+": "+s.unlisted())
			if sec, ok := s.known[key]; ok {
				out = append(out, sec)
			}
			continue
		}
		var sec corev1.Secret
		err := s.reader.Get(ctx, key, &sec)
		switch {
		case err == nil && lacking(sec, keys) != "" && s.good(key, keys):
			// A key removed or renamed, or the Secret made again as a type whose data the cache
			// drops: a deletion by another name, with the same grace for what the last good copy
			// held of the keys that are gone. The keys that are there are read as they are now,
			// by the VirtualIPs that use them, and once the grace is over, alone.
			old := s.known[key]
			s.gone(key, now, "key "+lacking(sec, keys)+" missing or empty")
			live := trimSecret(sec, keys)
			if _, grace := s.known[key]; grace {
				for k, v := range old.Data {
					if len(live.Data[k]) == 0 {
						if live.Data == nil {
							live.Data = map[string][]byte{}
						}
						live.Data[k] = v
					}
				}
			}
			s.known[key] = live
		case err == nil:
			s.known[key] = trimSecret(sec, keys)
			delete(s.missing, key)
		case apierrors.IsNotFound(err):
			s.gone(key, now, "not found")
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

// gone handles a referenced Secret that cannot be read (why): its last known copy stands for the
// grace, then it is forgotten and Derive reports it missing.
func (s *secretStore) gone(key types.NamespacedName, now time.Time, why string) {
	if _, ok := s.known[key]; !ok {
		return
	}
	since, ok := s.missing[key]
	if !ok {
		s.missing[key] = now
		s.log.Info("Secret unavailable; keeping its last known password for a while", "secret", key.String(), "why", why, "for", s.grace.String())
		return
	}
	if now.Sub(since) >= s.grace {
		s.log.Info("Secret still unavailable; the routers that use it stop", "secret", key.String(), "why", why, "after", now.Sub(since).String())
		delete(s.known, key)
		delete(s.missing, key)
	}
}

// explain replaces Derive's "not found" of a Secret the agent could not read with why: its
// namespace is unknown, the Secrets are not listed (forbidden), or the Secret is of a type whose
// data the agent does not keep. The reason stays SecretUnavailable.
func (s *secretStore) explain(in desired.Inputs, res desired.Result) desired.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []desired.RouterError
	for i, e := range res.Errors {
		if !errors.Is(e.Err, desired.ErrSecret) {
			continue
		}
		j := slices.IndexFunc(in.VirtualIPs, func(v vrrpv1.VirtualIP) bool { return v.Name == e.Name })
		if j < 0 || in.VirtualIPs[j].Spec.Authentication == nil {
			continue
		}
		ref := in.VirtualIPs[j].Spec.Authentication.SecretRef
		k := slices.IndexFunc(in.Secrets, func(sec corev1.Secret) bool { return sec.Namespace == ref.Namespace && sec.Name == ref.Name })
		var why string
		switch {
		case s.namespace == "":
			why = "the agent's namespace is unknown (set --namespace or $POD_NAMESPACE) and it reads Secrets only there"
		case ref.Namespace != s.namespace:
			continue // Derive says where to put it
		case k >= 0 && notPasswords[in.Secrets[k].Type]:
			why = fmt.Sprintf("it is of type %s, whose data the agent does not keep; use an Opaque Secret", in.Secrets[k].Type)
		case k < 0 && !s.isSynced():
			why = "cannot list Secrets in namespace " + s.namespace + ": " + s.unlisted()
		default:
			continue
		}
		if errs == nil {
			errs = slices.Clone(res.Errors)
		}
		errs[i].Err = fmt.Errorf("secretRef %s/%s: %s: %w", ref.Namespace, ref.Name, why, desired.ErrSecret)
	}
	if errs != nil {
		res.Errors = errs
	}
	return res
}

// good says whether the last known copy of key has every one of keys; s.mu is held.
func (s *secretStore) good(key types.NamespacedName, keys map[string]bool) bool {
	sec, ok := s.known[key]
	return ok && lacking(sec, keys) == ""
}

// lacking returns the first of keys, in order, that sec has no data for, "" when it has all.
func lacking(sec corev1.Secret, keys map[string]bool) string {
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if len(sec.Data[k]) == 0 {
			return k
		}
	}
	return ""
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
// the types that are never a VRRP password (Helm's releases, tokens, registry and TLS credentials).
// The data of the others stays: the transform cannot know which Secrets a VirtualIP references.
func slimSecret(obj any) (any, error) {
	sec, ok := obj.(*corev1.Secret)
	if !ok {
		return obj, nil
	}
	out := &corev1.Secret{TypeMeta: sec.TypeMeta, Type: sec.Type,
		ObjectMeta: metav1.ObjectMeta{Name: sec.Name, Namespace: sec.Namespace, UID: sec.UID, ResourceVersion: sec.ResourceVersion}}
	if !notPasswords[sec.Type] {
		out.Data = sec.Data
	}
	return out, nil
}

package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

func authVIP(name, namespace, secret, key string) vrrpv1.VirtualIP {
	return vrrpv1.VirtualIP{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: vrrpv1.VirtualIPSpec{
		Authentication: &vrrpv1.Authentication{Type: vrrpv1.AuthenticationPass,
			SecretRef: vrrpv1.SecretKeyReference{Namespace: namespace, Name: secret, Key: key}}}}
}

func authSecret(namespace, name string, kv ...string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Data: map[string][]byte{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.Data[kv[i]] = []byte(kv[i+1])
	}
	return s
}

// TestSecretStore proves what the agent hands Derive of the Secrets of its namespace: the
// referenced key only, nothing from another namespace, and the last known password while a Secret is
// briefly missing, for a bounded grace (issue 9 items 12 and 13).
func TestSecretStore(t *testing.T) {
	const grace = 30 * time.Second
	vips := []vrrpv1.VirtualIP{authVIP("services", "vrrp-system", "vrrp-auth", "password")}
	type step struct {
		after  time.Duration // since the previous step
		change func(t *testing.T, c client.Client)
		want   map[string]string // Secret name -> its password handed to Derive
	}
	del := func(t *testing.T, c client.Client) {
		if err := c.Delete(context.Background(), authSecret("vrrp-system", "vrrp-auth")); err != nil {
			t.Fatal(err)
		}
	}
	recreate := func(password string) func(t *testing.T, c client.Client) {
		return func(t *testing.T, c client.Client) {
			if err := c.Create(context.Background(), authSecret("vrrp-system", "vrrp-auth", "password", password)); err != nil {
				t.Fatal(err)
			}
		}
	}
	rewrite := func(kv ...string) func(t *testing.T, c client.Client) {
		return func(t *testing.T, c client.Client) {
			if err := c.Update(context.Background(), authSecret("vrrp-system", "vrrp-auth", kv...)); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := map[string][]step{
		"a key renamed, or emptied, has the grace of a deleted Secret, and its return brings the password": {
			{want: map[string]string{"vrrp-auth": "secret12"}},
			{change: rewrite("pasword", "secret12"), want: map[string]string{"vrrp-auth": "secret12"}},
			{after: grace / 2, change: rewrite("password", ""), want: map[string]string{"vrrp-auth": "secret12"}},
			// The Secret is there, its key empty: Derive says so.
			{after: grace / 2, want: map[string]string{"vrrp-auth": ""}},
			{change: rewrite("password", "rotated1"), want: map[string]string{"vrrp-auth": "rotated1"}},
		},
		"a Secret deleted and created again keeps its routers running and brings the new password": {
			{want: map[string]string{"vrrp-auth": "secret12"}},
			{change: del, want: map[string]string{"vrrp-auth": "secret12"}},
			{after: grace / 2, want: map[string]string{"vrrp-auth": "secret12"}},
			{change: recreate("rotated1"), want: map[string]string{"vrrp-auth": "rotated1"}},
			// A new disappearance gets a new grace.
			{after: grace, change: del, want: map[string]string{"vrrp-auth": "rotated1"}},
		},
		"a Secret missing for the grace is reported missing, and found again when it returns": {
			{want: map[string]string{"vrrp-auth": "secret12"}},
			{change: del, want: map[string]string{"vrrp-auth": "secret12"}},
			{after: grace - time.Second, want: map[string]string{"vrrp-auth": "secret12"}},
			{after: time.Second, want: map[string]string{}},
			{after: time.Hour, want: map[string]string{}},
			{change: recreate("rotated1"), want: map[string]string{"vrrp-auth": "rotated1"}},
		},
	}
	for name, steps := range tests {
		t.Run(name, func(t *testing.T) {
			scheme, err := newScheme()
			if err != nil {
				t.Fatal(err)
			}
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(authSecret("vrrp-system", "vrrp-auth", "password", "secret12")).Build()
			now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			s := newSecretStore("vrrp-system", grace, logr.Discard())
			s.reader, s.now = c, func() time.Time { return now }
			for i, st := range steps {
				now = now.Add(st.after)
				if st.change != nil {
					st.change(t, c)
				}
				got := map[string]string{}
				for _, sec := range s.referenced(context.Background(), vips) {
					got[sec.Name] = string(sec.Data["password"])
				}
				if diff := cmp.Diff(st.want, got); diff != "" {
					t.Errorf("step %d: passwords handed to Derive (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

// Review of issue 12: a key that goes has its grace, and the VirtualIPs that use the Secret's other
// keys go on reading them as they are, during the grace and after it.
func TestAKeyThatGoesLeavesTheOtherKeysOfItsSecret(t *testing.T) {
	const grace = 30 * time.Second
	vips := []vrrpv1.VirtualIP{authVIP("a", "vrrp-system", "vrrp-auth", "password"), authVIP("b", "vrrp-system", "vrrp-auth", "other")}
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(authSecret("vrrp-system", "vrrp-auth", "password", "secret12", "other", "secret34")).Build()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSecretStore("vrrp-system", grace, logr.Discard())
	s.reader, s.now = c, func() time.Time { return now }
	steps := []struct {
		after time.Duration
		data  []string          // the Secret's data from then on; nil: unchanged
		want  map[string]string // key -> the password handed to Derive
	}{
		{want: map[string]string{"password": "secret12", "other": "secret34"}},
		{data: []string{"password", "secret12"}, want: map[string]string{"password": "secret12", "other": "secret34"}},
		{after: grace / 2, data: []string{"password", "rotated1"}, want: map[string]string{"password": "rotated1", "other": "secret34"}},
		{after: grace / 2, want: map[string]string{"password": "rotated1", "other": ""}},
		{after: time.Hour, want: map[string]string{"password": "rotated1", "other": ""}},
	}
	for i, st := range steps {
		now = now.Add(st.after)
		if st.data != nil {
			if err := c.Update(context.Background(), authSecret("vrrp-system", "vrrp-auth", st.data...)); err != nil {
				t.Fatal(err)
			}
		}
		got := map[string]string{}
		for _, sec := range s.referenced(context.Background(), vips) {
			for _, k := range []string{"password", "other"} {
				got[k] = string(sec.Data[k])
			}
		}
		if diff := cmp.Diff(st.want, got); diff != "" {
			t.Errorf("step %d: passwords handed to Derive (-want +got):\n%s", i, diff)
		}
	}
}

func TestSecretStoreReadsOnlyWhatItNeeds(t *testing.T) {
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		authSecret("vrrp-system", "vrrp-auth", "password", "secret12", "api-token", "not-for-vrrp"),
		authSecret("tenant", "their-auth", "password", "secret34"),
	).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			asked = append(asked, key.String())
			return c.Get(ctx, key, obj, opts...)
		},
	}).Build()
	s := newSecretStore("vrrp-system", time.Minute, logr.Discard())
	s.reader = c
	got := s.referenced(context.Background(), []vrrpv1.VirtualIP{
		authVIP("services", "vrrp-system", "vrrp-auth", ""),
		authVIP("theirs", "tenant", "their-auth", "password"),
	})
	if diff := cmp.Diff([]string{"vrrp-system/vrrp-auth"}, asked); diff != "" {
		t.Errorf("Secrets read (-want +got):\n%s", diff)
	}
	want := []corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Namespace: "vrrp-system", Name: "vrrp-auth"},
		Data: map[string][]byte{"password": []byte("secret12")}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Secrets handed to Derive (-want +got):\n%s", diff)
	}
}

// TestRoutersThatWaitForASecretSayWhy proves that a VirtualIP whose Secret the agent cannot read
// is refused with the cause, not a bare "not found", while the VirtualIPs without authentication
// run: the agent's namespace unknown (it used to refuse to start), the Secrets not listed because
// the Role is missing (it used to derive nothing), or a Secret of a type whose data the cache does
// not keep.
func TestRoutersThatWaitForASecretSayWhy(t *testing.T) {
	forbidden := apierrors.NewForbidden(corev1.Resource("secrets"), "", errors.New(`User "system:serviceaccount:vrrp-system:vrrp-operator-agent" cannot list resource "secrets"`))
	tests := map[string]struct {
		namespace   string // the agent's
		listErr     error  // nil: the Secrets are listed
		secretType  corev1.SecretType
		wantMessage string // of services' refusal
	}{
		"the agent's namespace is unknown": {
			wantMessage: "the agent's namespace is unknown (set --namespace or $POD_NAMESPACE)",
		},
		"the agent may not list the Secrets of its namespace": {
			namespace: "vrrp-system", listErr: forbidden,
			wantMessage: "cannot list Secrets in namespace vrrp-system: forbidden (is the agent's Role or RoleBinding there missing?)",
		},
		"the Secrets of the agent's namespace are not listed yet": {
			namespace: "vrrp-system", listErr: errors.New("connection refused"),
			wantMessage: "cannot list Secrets in namespace vrrp-system: failed to list *v1.Secret: connection refused",
		},
		"the Secret is a service account token": {
			namespace: "vrrp-system", secretType: corev1.SecretTypeServiceAccountToken,
			wantMessage: "it is of type kubernetes.io/service-account-token, whose data the agent does not keep; use an Opaque Secret",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			scheme, err := newScheme()
			if err != nil {
				t.Fatal(err)
			}
			in := twoVIPs()
			plain := *in.VirtualIPs[0].DeepCopy()
			plain.Name, plain.Spec.VirtualRouterID, plain.Spec.Authentication = "plain", 54, nil
			in.VirtualIPs = append(in.VirtualIPs, plain)
			secret := in.Secrets[0].DeepCopy()
			secret.Type = tc.secretType
			if slimmed, _ := slimSecret(secret); true {
				secret = slimmed.(*corev1.Secret)
			}
			objs := []client.Object{&in.VirtualIPs[0], &in.VirtualIPs[1], &in.VirtualIPs[2], &in.Nodes[0], &in.Nodes[1], secret}
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
			plane := &recordingPlane{}
			a := newTestAgent(t.TempDir(), plane)
			a.namespace, a.secrets = tc.namespace, newSecretStore(tc.namespace, time.Minute, logr.Discard())
			a.cache, a.secrets.reader = listCache{c: c}, c
			if tc.listErr != nil {
				a.secrets.setSynced(func() bool { return false })
				r := toolscache.NewReflector(&toolscache.ListWatch{}, &corev1.Secret{}, toolscache.NewStore(toolscache.MetaNamespaceKeyFunc), 0)
				a.secrets.watchError(context.Background(), r, fmt.Errorf("failed to list *v1.Secret: %w", tc.listErr))
			}
			a.contact(time.Now())
			a.sync(context.Background())
			res, _ := plane.last()
			var running []string
			for _, r := range res.Routers {
				running = append(running, r.Name)
			}
			if diff := cmp.Diff([]string{"plain"}, running); diff != "" {
				t.Errorf("routers running (-want +got):\n%s", diff)
			}
			if len(res.Errors) != 1 || res.Errors[0].Name != "services" || res.Errors[0].Reason() != "SecretUnavailable" ||
				!strings.Contains(res.Errors[0].Error(), tc.wantMessage) {
				t.Errorf("refused: %v; want services refused with SecretUnavailable saying %q", res.Errors, tc.wantMessage)
			}
		})
	}
}

// TestTheCacheKeepsNoCredentialsOfOtherKinds proves that the Secrets of the agent's namespace that
// cannot be a VRRP password (Helm's releases, tokens, registry, TLS and SSH credentials) are cached
// without their data, on every node.
func TestTheCacheKeepsNoCredentialsOfOtherKinds(t *testing.T) {
	tests := map[corev1.SecretType]bool{ // type -> data kept
		corev1.SecretTypeOpaque:              true,
		"":                                   true,
		corev1.SecretTypeBasicAuth:           true,
		"example.com/vrrp-password":          true,
		helmReleaseSecret:                    false,
		corev1.SecretTypeServiceAccountToken: false,
		corev1.SecretTypeDockercfg:           false,
		corev1.SecretTypeDockerConfigJson:    false,
		corev1.SecretTypeTLS:                 false,
		corev1.SecretTypeSSHAuth:             false,
		corev1.SecretTypeBootstrapToken:      false,
	}
	for typ, kept := range tests {
		t.Run(fmt.Sprintf("a Secret of type %q keeps its data: %v", typ, kept), func(t *testing.T) {
			sec := authSecret("vrrp-system", "s", "password", "secret12")
			sec.Type = typ
			sec.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}"}
			out, err := slimSecret(sec)
			if err != nil {
				t.Fatal(err)
			}
			got := out.(*corev1.Secret)
			if (got.Data != nil) != kept || got.Annotations != nil {
				t.Errorf("slimSecret kept data %v and annotations %v; want data kept %v and no annotations", got.Data, got.Annotations, kept)
			}
		})
	}
}

package kube

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	tests := map[string][]step{
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

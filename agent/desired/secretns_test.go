package desired

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// TestSecretRefOutsideTheAgentsNamespace proves that a VirtualIP whose secretRef names another
// namespace than the agent's is refused with a reason that says so, even when the Secret is at
// hand (issue 9 item 12): the agent's Role reads its own namespace only.
func TestSecretRefOutsideTheAgentsNamespace(t *testing.T) {
	elsewhere := corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vrrp-auth", Namespace: "tenant"},
		Data: map[string][]byte{"password": []byte("secret12")}}
	tests := map[string]struct {
		namespace string // Inputs.SecretNamespace
		ref       string // namespace of the secretRef
		secrets   []corev1.Secret
		wantErr   string // "" for a router with the password
	}{
		"a Secret in the agent's namespace is read": {
			namespace: "vrrp-system", ref: "vrrp-system", secrets: []corev1.Secret{seedSecret()},
		},
		"a Secret in another namespace is refused with both namespaces named": {
			namespace: "vrrp-system", ref: "tenant", secrets: []corev1.Secret{elsewhere},
			wantErr: `secretRef tenant/vrrp-auth: the agent reads Secrets only in its own namespace vrrp-system`,
		},
		"without an agent namespace (standalone) any namespace is read": {
			ref: "tenant", secrets: []corev1.Secret{elsewhere},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Derive(Inputs{
				NodeName:        "n1",
				VirtualIPs:      []vrrpv1.VirtualIP{vip("web", 10, "198.51.100.10/24", pass(tc.ref, "vrrp-auth", ""))},
				Secrets:         tc.secrets,
				SecretNamespace: tc.namespace,
				Interfaces:      standardInterfaces(),
			})
			if tc.wantErr == "" {
				if len(got.Errors) != 0 || len(got.Routers) != 1 || got.Routers[0].Config.Password != "secret12" {
					t.Fatalf("Derive() = %+v, want one router with the password", got)
				}
				return
			}
			if len(got.Routers) != 0 || len(got.Errors) != 1 {
				t.Fatalf("Derive() = %+v, want the router refused", got)
			}
			err := got.Errors[0]
			if !errors.Is(err, ErrSecret) || err.Reason() != "SecretUnavailable" {
				t.Errorf("Derive() error %q (reason %s) does not wrap %q", err, err.Reason(), ErrSecret)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Derive() error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

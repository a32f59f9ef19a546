package helm

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// TestTheAgentReadsSecretsOfItsNamespaceOnly proves that the agent on every node cannot read every
// Secret of the cluster: no ClusterRole grants Secrets, and a Role of the release namespace, taken
// from the agent's RBAC markers, lets it watch the authentication Secrets there (issue "Truth and
// safety under failure", item 12).
func TestTheAgentReadsSecretsOfItsNamespaceOnly(t *testing.T) {
	t.Parallel()
	secrets := func(r rbacv1.PolicyRule) bool {
		return (slices.Contains(r.APIGroups, "") || slices.Contains(r.APIGroups, "*")) &&
			(slices.Contains(r.Resources, "secrets") || slices.Contains(r.Resources, "*"))
	}
	var generated rbacv1.Role
	readYAMLDocument(t, "config/rbac/agent/role.yaml", "Role", &generated)
	const other = "network-system"
	for source, tc := range map[string]struct {
		objs      objects
		namespace string
	}{
		"the chart":                         {template(t), namespace},
		"the chart in another namespace":    {template(t, "--namespace", other), other},
		"config/default (kubectl apply -k)": {kustomize(t, "default"), namespace},
	} {
		t.Run(source+" grants Secrets in no ClusterRole", func(t *testing.T) {
			for _, o := range tc.objs.find("ClusterRole") {
				for _, r := range get[rbacv1.ClusterRole](t, tc.objs, "ClusterRole", o.Name).Rules {
					if secrets(r) {
						t.Errorf("ClusterRole %s grants %v on Secrets cluster-wide", o.Name, r.Verbs)
					}
				}
			}
		})
		t.Run(source+" binds the agent to the generated Role in its namespace", func(t *testing.T) {
			role := get[rbacv1.Role](t, tc.objs, "Role", "vrrp-operator-agent")
			if role.Namespace != tc.namespace {
				t.Errorf("the agent's Role is in namespace %q, want the release namespace %q", role.Namespace, tc.namespace)
			}
			if diff := cmp.Diff(generated.Rules, role.Rules); diff != "" {
				t.Errorf("the agent's Role rules (-generated +%s):\n%s\nrun make manifests", source, diff)
			}
			if !slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool {
				return secrets(r) && slices.Contains(r.Verbs, "list") && slices.Contains(r.Verbs, "watch")
			}) {
				t.Errorf("the agent's Role does not let it watch the Secrets of its namespace: %+v", role.Rules)
			}
			rb := get[rbacv1.RoleBinding](t, tc.objs, "RoleBinding", "vrrp-operator-agent")
			wantRef := rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "vrrp-operator-agent"}
			wantSubjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "vrrp-operator-agent", Namespace: tc.namespace}}
			if rb.Namespace != tc.namespace || !cmp.Equal(wantRef, rb.RoleRef) || !cmp.Equal(wantSubjects, rb.Subjects) {
				t.Errorf("the agent's RoleBinding = %+v in namespace %q, want %+v to %+v", rb.RoleRef, rb.Namespace, wantRef, wantSubjects)
			}
		})
	}
}

// readYAMLDocument decodes the document of kind in a multi-document file of the repository.
func readYAMLDocument(t testing.TB, path, kind string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.Root(), path))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range parse(t, string(b)) {
		if o.Kind == kind {
			readJSON(t, o.JSON, v)
			return
		}
	}
	t.Fatalf("%s has no %s", path, kind)
}

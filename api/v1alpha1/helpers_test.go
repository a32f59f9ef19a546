package v1alpha1

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestMasterLabel(t *testing.T) {
	long := strings.Repeat("a", 250)
	tests := map[string]struct {
		name string
		want string
	}{
		"a short name is used as it is":             {name: "services", want: "vrrp.dev/master-services"},
		"a name of 56 characters still fits":        {name: strings.Repeat("b", 56), want: "vrrp.dev/master-" + strings.Repeat("b", 56)},
		"a long name is cut and suffixed by a hash": {name: long, want: "vrrp.dev/master-" + long[:47] + "-"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := MasterLabel(tc.name)
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("MasterLabel(%q) = %q, want prefix %q", tc.name, got, tc.want)
			}
			if errs := validation.IsQualifiedName(got); len(errs) > 0 {
				t.Errorf("MasterLabel(%q) = %q is not a valid label key: %v", tc.name, got, errs)
			}
		})
	}
	if MasterLabel(long) == MasterLabel(long[:249]+"c") {
		t.Error("two long names that differ only at the end share a label key")
	}
}

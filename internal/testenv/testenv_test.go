package testenv

import "testing"

func TestAMissingToolSkipsUnlessRequired(t *testing.T) {
	t.Setenv(RequireEnv, "")
	var sub *testing.T
	t.Run("missing", func(t *testing.T) {
		sub = t
		RequireTool(t, "vrrp-no-such-tool")
		t.Error("RequireTool returned for a missing tool")
	})
	if !sub.Skipped() {
		t.Error("RequireTool did not skip for a missing tool")
	}
}

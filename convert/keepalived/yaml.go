package keepalived

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"
)

// WriteYAML writes the result as one YAML stream: the Secret first (kubectl apply creates in
// order, and the routers need the password at once), then the hook ConfigMap, then the
// VirtualIPs, each after a comment that says where it came from.
func WriteYAML(w io.Writer, r *Result) error {
	var docs []string
	add := func(comment string, obj any) error {
		m, err := clean(obj)
		if err != nil {
			return err
		}
		b, err := yaml.Marshal(m)
		if err != nil {
			return fmt.Errorf("writing YAML: %w", err)
		}
		docs = append(docs, comment+string(b))
		return nil
	}
	if r.Secret != nil {
		if err := add("# The PASS passwords, in the agents' namespace, where they read Secrets.\n", r.Secret); err != nil {
			return err
		}
	}
	if r.ConfigMap != nil {
		if err := add("# The hook programs: placeholders that fail until the keepalived scripts they name replace them.\n# Mount it as the agents' hook directory (chart: hooks.configMap; config/agent: the hooks volume).\n", r.ConfigMap); err != nil {
			return err
		}
	}
	for _, v := range r.VirtualIPs {
		var from []string
		for _, p := range r.Sources[v.Name] {
			from = append(from, p.String())
		}
		if err := add(fmt.Sprintf("# From vrrp_instance at %s.\n", strings.Join(from, ", ")), &v); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, strings.Join(docs, "---\n"))
	return err
}

// clean turns obj into the map kubectl would send: no status, no empty creationTimestamp.
func clean(obj any) (map[string]any, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding %T: %w", obj, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("encoding %T: %w", obj, err)
	}
	delete(m, "status")
	if meta, ok := m["metadata"].(map[string]any); ok {
		delete(meta, "creationTimestamp")
	}
	return m, nil
}

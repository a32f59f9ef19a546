package manifests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	vrrpv1 "github.com/vrrp-dev/vrrp-operator/api/v1alpha1"
)

// Objects are the objects of a manifest stream, in the order they appear.
type Objects struct {
	VirtualIPs []vrrpv1.VirtualIP // defaulted and valid
	Secrets    []corev1.Secret    // stringData merged into data, namespace and type defaulted
	Nodes      []corev1.Node
}

// Load reads a stream of YAML (or JSON) documents separated by "---" lines: VirtualIPs
// (vrrp.dev/v1alpha1), Secrets and Nodes (v1), and Lists of them. Errors name the document, counted
// from 1 as a reader counts them, with its kind and name; Load reports every bad document, not only
// the first, and returns no objects then.
//
// Decoding is strict, like kubectl's default server-side field validation: an unknown or duplicate
// field is an error rather than a setting silently lost.
func Load(r io.Reader) (Objects, error) {
	var l loader
	docs := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for i := 1; ; i++ {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Objects{}, fmt.Errorf("reading document %d: %w", i, err)
		}
		l.document(fmt.Sprintf("document %d", i), doc, typeMeta{})
	}
	if err := errors.Join(l.errs...); err != nil {
		return Objects{}, err
	}
	return l.objs, nil
}

type loader struct {
	objs Objects
	errs []error
	seen map[string]string // "Kind namespace/name" -> the document that defined it
}

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

func (l *loader) fail(where string, err error) {
	l.errs = append(l.errs, fmt.Errorf("%s: %w", where, err))
}

var (
	virtualIPType = typeMeta{APIVersion: vrrpv1.GroupVersion.String(), Kind: "VirtualIP"}
	secretType    = typeMeta{APIVersion: "v1", Kind: "Secret"}
	nodeType      = typeMeta{APIVersion: "v1", Kind: "Node"}
)

// document decodes one YAML document, or one item of a List, found at "at"; def supplies the
// apiVersion and kind that an item of a typed list (VirtualIPList) may leave out.
func (l *loader) document(at string, doc []byte, def typeMeta) {
	data, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		l.fail(at, err)
		return
	}
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return // Only comments, or nothing.
	}
	var head struct {
		typeMeta `json:",inline"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Items []json.RawMessage `json:"items"`
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(data, &head); err != nil {
		l.fail(at, fmt.Errorf("not a Kubernetes object: %w", err))
		return
	}
	tm := head.typeMeta
	if tm.Kind == "" && tm.APIVersion == "" {
		tm = def
	}
	where := fmt.Sprintf("%s (%s %s)", at, tm.Kind, head.Metadata.Name)
	switch {
	case tm.Kind == "":
		l.fail(at, errors.New("no kind"))
	case tm == typeMeta{APIVersion: "v1", Kind: "List"}:
		l.list(at, head.Items, typeMeta{})
	case tm == typeMeta{APIVersion: virtualIPType.APIVersion, Kind: "VirtualIPList"}:
		l.list(at, head.Items, virtualIPType)
	case tm == typeMeta{APIVersion: "v1", Kind: "SecretList"}:
		l.list(at, head.Items, secretType)
	case tm == typeMeta{APIVersion: "v1", Kind: "NodeList"}:
		l.list(at, head.Items, nodeType)
	case tm == virtualIPType:
		l.virtualIP(at, where, data)
	case tm == secretType:
		l.secret(at, where, data)
	case tm == nodeType:
		l.node(at, where, data)
	default:
		l.fail(at, fmt.Errorf("unsupported kind %q (apiVersion %q): only VirtualIP (vrrp.dev/v1alpha1), Secret and Node (v1), and Lists of them, can be loaded",
			tm.Kind, tm.APIVersion))
	}
}

func (l *loader) list(at string, items []json.RawMessage, def typeMeta) {
	for j, item := range items {
		l.document(fmt.Sprintf("%s, item %d", at, j+1), item, def)
	}
}

// decode decodes data strictly into obj, reporting every unknown or duplicate field.
func decode(data []byte, obj any) error {
	strict, err := sigsjson.UnmarshalStrict(data, obj)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func (l *loader) virtualIP(at, where string, data []byte) {
	var raw map[string]any
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(data, &raw); err != nil {
		l.fail(where, err)
		return
	}
	// The duration fields go through the CRD's pattern first: the typed decoder would take "1us"
	// or "-1s", and would report "soon" without naming the field.
	if errs := checkDurations(raw); len(errs) > 0 {
		l.fail(where, errs.ToAggregate())
		return
	}
	var v vrrpv1.VirtualIP
	if err := decode(data, &v); err != nil {
		l.fail(where, err)
		return
	}
	v.Namespace = "" // Cluster-scoped: the API server drops it too.
	Default(&v)
	// Default cannot tell a field left out from one set to its zero value; the API server fills
	// in only the former, and refuses a priority of 0, so such fields are put back for Validate.
	for _, z := range explicitZeros {
		if isZero(raw, z.path) {
			z.reset(&v)
		}
	}
	if errs := validate(&v); len(errs) > 0 {
		l.fail(where, errs.ToAggregate())
		return
	}
	if !l.first(at, where, "VirtualIP "+v.Name) {
		return
	}
	l.objs.VirtualIPs = append(l.objs.VirtualIPs, v)
}

func (l *loader) secret(at, where string, data []byte) {
	var s corev1.Secret
	if err := decode(data, &s); err != nil {
		l.fail(where, err)
		return
	}
	if s.Name == "" {
		l.fail(where, field.Required(field.NewPath("metadata", "name"), ""))
		return
	}
	// What the API server does on create: kubectl's namespace is "default" unless the manifest
	// says otherwise, stringData is write-only and wins over data, Opaque is the type by default.
	if s.Namespace == "" {
		s.Namespace = "default"
	}
	if len(s.StringData) > 0 && s.Data == nil {
		s.Data = make(map[string][]byte, len(s.StringData))
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
	if !l.first(at, where, "Secret "+s.Namespace+"/"+s.Name) {
		return
	}
	l.objs.Secrets = append(l.objs.Secrets, s)
}

func (l *loader) node(at, where string, data []byte) {
	var n corev1.Node
	if err := decode(data, &n); err != nil {
		l.fail(where, err)
		return
	}
	if n.Name == "" {
		l.fail(where, field.Required(field.NewPath("metadata", "name"), ""))
		return
	}
	if !l.first(at, where, "Node "+n.Name) {
		return
	}
	l.objs.Nodes = append(l.objs.Nodes, n)
}

// first records an object and reports whether it is the first of its name. A second one would be
// an update with kubectl; in one file it is a mistake, and which one wins would be a guess.
func (l *loader) first(at, where, key string) bool {
	if l.seen == nil {
		l.seen = make(map[string]string)
	}
	if prev, dup := l.seen[key]; dup {
		l.fail(where, fmt.Errorf("%s is already defined in %s", key, prev))
		return false
	}
	l.seen[key] = at
	return true
}

// durationPattern is the CRD's pattern for every duration field (api/v1alpha1), with its length
// limits.
var durationPattern = regexp.MustCompile(`^([0-9]{1,5}h)?([0-9]{1,5}m)?([0-9]{1,5}(\.[0-9]{1,3})?s)?([0-9]{1,7}ms)?$`)

const (
	durationMinLength = 2
	durationMaxLength = 24
)

// durationFields are the paths of the duration fields; "*" stands for each item of a list.
var durationFields = [][]string{
	{"spec", "advertInterval"},
	{"spec", "preemptDelay"},
	{"spec", "garp", "interval"},
	{"spec", "garp", "refresh"},
	{"spec", "hooks", "timeout"},
	{"spec", "track", "*", "interval"},
	{"spec", "track", "*", "timeout"},
}

func checkDurations(raw map[string]any) field.ErrorList {
	var errs field.ErrorList
	for _, path := range durationFields {
		each(raw, nil, path, func(p *field.Path, v any) {
			if v == nil {
				return
			}
			s, ok := v.(string)
			switch {
			case !ok:
				errs = append(errs, field.Invalid(p, v, "must be a duration string such as 1s or 100ms"))
			case len(s) < durationMinLength || len(s) > durationMaxLength || !durationPattern.MatchString(s):
				errs = append(errs, field.Invalid(p, s, "must be a duration such as 1s, 100ms or 1m30s, made of h, m, s (up to 3 decimals) and ms"))
			}
		})
	}
	return errs
}

// each calls f with the field path and value of every field of v that path names, "*" standing
// for each item of a list; at is v's own path, nil at the root.
func each(v any, at *field.Path, path []string, f func(*field.Path, any)) {
	if len(path) == 0 {
		f(at, v)
		return
	}
	if path[0] == "*" {
		items, _ := v.([]any)
		for i, item := range items {
			each(item, at.Index(i), path[1:], f)
		}
		return
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return
	}
	child, ok := obj[path[0]]
	if !ok {
		return
	}
	next := field.NewPath(path[0])
	if at != nil {
		next = at.Child(path[0])
	}
	each(child, next, path[1:], f)
}

// explicitZeros are the defaulted fields whose zero value the API server refuses when the manifest
// sets it.
var explicitZeros = []struct {
	path  []string
	reset func(*vrrpv1.VirtualIP)
}{
	{[]string{"spec", "version"}, func(v *vrrpv1.VirtualIP) { v.Spec.Version = 0 }},
	{[]string{"spec", "priority"}, func(v *vrrpv1.VirtualIP) { v.Spec.Priority = 0 }},
	{[]string{"spec", "v3IPv4Checksum"}, func(v *vrrpv1.VirtualIP) { v.Spec.V3IPv4Checksum = "" }},
	{[]string{"spec", "failover", "onCordon"}, func(v *vrrpv1.VirtualIP) { v.Spec.Failover.OnCordon = "" }},
	{[]string{"spec", "garp", "count"}, func(v *vrrpv1.VirtualIP) { v.Spec.GARP.Count = 0 }},
}

// isZero reports whether path is set, not null, to 0 or "".
func isZero(raw map[string]any, path []string) bool {
	v, ok := lookup(raw, path)
	switch v := v.(type) {
	case int64:
		return ok && v == 0
	case float64:
		return ok && v == 0
	case string:
		return ok && v == ""
	}
	return false
}

func lookup(m map[string]any, path []string) (any, bool) {
	var v any = m
	for _, k := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

package standalone

import (
	"flag"
	"io"
	"os"
	"testing"
	"time"

	"github.com/vrrp-dev/vrrp-operator/agent/node"
)

// parseFlags parses args as a command that registers only Flags does: vrrp-agent.
func parseFlags(args []string) (Options, error) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	options := Flags(fs)
	if err := fs.Parse(args); err != nil {
		return Options{}, err
	}
	return options()
}

func TestFlags(t *testing.T) {
	type want struct {
		name     string
		config   string
		metrics  string
		lifetime time.Duration
		shutdown time.Duration
	}
	defaults := want{name: "primary", metrics: "127.0.0.1:9472", lifetime: 6 * time.Second, shutdown: node.DefaultShutdownTimeout}
	with := func(change func(*want)) want {
		w := defaults
		change(&w)
		return w
	}
	tests := map[string]struct {
		env     string // $NODE_NAME
		args    []string
		want    want
		wantErr bool
	}{
		"the defaults keep the endpoints on loopback and the 25s shutdown": {
			args: []string{"--node-name=primary"},
			want: defaults,
		},
		"the node's name comes from $NODE_NAME": {
			env:  "primary",
			want: defaults,
		},
		"--node-name wins over $NODE_NAME": {
			env: "secondary", args: []string{"--node-name=primary"},
			want: defaults,
		},
		"the config file is taken": {
			args: []string{"--node-name=primary", "--config=/etc/vrrp/vips.yaml"},
			want: with(func(w *want) { w.config = "/etc/vrrp/vips.yaml" }),
		},
		"the shutdown timeout follows the grace period the chart passes": {
			args: []string{"--node-name=primary", "--shutdown-timeout=85s"},
			want: with(func(w *want) { w.shutdown = 85 * time.Second }),
		},
		"a zero shutdown timeout is refused": {
			args:    []string{"--node-name=primary", "--shutdown-timeout=0s"},
			wantErr: true,
		},
		"a negative shutdown timeout is refused": {
			args:    []string{"--node-name=primary", "--shutdown-timeout=-5s"},
			wantErr: true,
		},
		"an address lifetime of 0 keeps VIPs forever": {
			args: []string{"--node-name=primary", "--address-lifetime=0s"},
			want: with(func(w *want) { w.lifetime = 0 }),
		},
		"an address lifetime below 3s is refused: the kernel counts whole seconds": {
			args:    []string{"--node-name=primary", "--address-lifetime=2s"},
			wantErr: true,
		},
		"the node's IPv4 address from status.hostIP is taken": {
			args: []string{"--node-name=primary", "--metrics-bind-address=198.51.100.253:9472"},
			want: with(func(w *want) { w.metrics = "198.51.100.253:9472" }),
		},
		"the node's IPv6 address from status.hostIP is taken without brackets": {
			args: []string{"--node-name=primary", "--metrics-bind-address=2001:db8::1:9472"},
			want: with(func(w *want) { w.metrics = "2001:db8::1:9472" }),
		},
		"every address is taken when asked for": {
			args: []string{"--node-name=primary", "--metrics-bind-address=:9472"},
			want: with(func(w *want) { w.metrics = ":9472" }),
		},
		"0 turns the endpoints off": {
			args: []string{"--node-name=primary", "--metrics-bind-address=0"},
			want: with(func(w *want) { w.metrics = "0" }),
		},
		"an unexpanded host IP is refused before anything starts": {
			args:    []string{"--node-name=primary", "--metrics-bind-address=$(HOST_IP):9472"},
			wantErr: true,
		},
		"an argument after the flags is refused": {
			args:    []string{"--node-name=primary", "vips.yaml"},
			wantErr: true,
		},
		"a cluster's flag is unknown here": {
			args:    []string{"--node-name=primary", "--kubeconfig=/etc/kubernetes/admin.conf"},
			wantErr: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Setenv("NODE_NAME", tc.env)
			o, err := parseFlags(tc.args)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseFlags(%q) succeeded, want an error", tc.args)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFlags(%q): %v", tc.args, err)
			}
			got := want{name: o.Name, config: o.ConfigFile, metrics: o.MetricsAddr, lifetime: o.AddressLifetime, shutdown: o.ShutdownTimeout}
			if got != tc.want {
				t.Errorf("parseFlags(%q) = %+v, want %+v", tc.args, got, tc.want)
			}
		})
	}
}

func TestFlagsNameTheNodeAfterTheHostWithoutNodeName(t *testing.T) {
	t.Setenv("NODE_NAME", "")
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Name != host {
		t.Errorf("node name %q, want the host name %q", o.Name, host)
	}
}

// The logger honours --v: at 1 the details (router status) are logged, at 0 only transitions.
func TestFlagsLogAtTheVerbosityAsked(t *testing.T) {
	for v, wantDetails := range map[string]bool{"0": false, "1": true} {
		o, err := parseFlags([]string{"--node-name=primary", "--v=" + v})
		if err != nil {
			t.Fatal(err)
		}
		if !o.Log.Enabled() {
			t.Errorf("--v=%s: level 0 is off", v)
		}
		if got := o.Log.V(1).Enabled(); got != wantDetails {
			t.Errorf("--v=%s: level 1 enabled %v, want %v", v, got, wantDetails)
		}
	}
}

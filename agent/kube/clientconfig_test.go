package kube

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

func TestTheAgentsClientIsNotHeldBackByClientGosDefaultRateLimit(t *testing.T) {
	limiter := flowcontrol.NewFakeAlwaysRateLimiter()
	for _, tc := range []struct {
		name    string
		in      rest.Config
		wantQPS float32
	}{
		{"a kubeconfig file's configuration, which sets no limit, gets none", rest.Config{}, -1},
		{"the in-cluster configuration keeps controller-runtime's none", rest.Config{QPS: -1}, -1},
		{"a limit set on purpose stays", rest.Config{QPS: 50, Burst: 100}, 50},
		{"a rate limiter set on purpose stays", rest.Config{RateLimiter: limiter}, 0},
		{"a kubeconfig's request timeout is not the manager's", rest.Config{Timeout: time.Second}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.in.QPS
			got := clientConfig(&tc.in)
			if got.QPS != tc.wantQPS {
				t.Errorf("QPS %v, want %v", got.QPS, tc.wantQPS)
			}
			if got.Timeout != 0 {
				t.Errorf("request timeout %v for the manager: it would cut every watch", got.Timeout)
			}
			if w := writeConfig(got); w.Timeout != writeTimeout || w.QPS != tc.wantQPS {
				t.Errorf("the writes' configuration: timeout %v QPS %v, want %v and %v: a request to an API server that went away would hang the status writer",
					w.Timeout, w.QPS, writeTimeout, tc.wantQPS)
			}
			if tc.in.QPS != before {
				t.Error("the cluster's configuration was changed, not copied")
			}
		})
	}
}

// The manager's watches (VirtualIPs, Nodes, Pods, Secrets) stay open past the writes' timeout: a
// request timeout on the manager's client ended each after 5 s, and every agent opened them
// again and again.
func TestTheAgentsWatchesOutliveItsWritesTimeout(t *testing.T) {
	_, cfg := testenv.APIServer(t)
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = time.Second // as a kubeconfig may say
	cs, err := kubernetes.NewForConfig(clientConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	timeout := int64(60)
	w, err := cs.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{TimeoutSeconds: &timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	open := time.After(writeTimeout + 2*time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("the watch ended within the writes' timeout")
			}
			t.Logf("event %s", ev.Type)
		case <-open:
			return
		}
	}
}

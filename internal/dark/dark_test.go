package dark

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNodes(t *testing.T) {
	node := func(name string, ready corev1.ConditionStatus) corev1.Node {
		n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if ready != "" {
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
				{Type: corev1.NodeReady, Status: ready}}
		}
		return n
	}
	pod := func(node string, phase corev1.PodPhase) corev1.Pod {
		return corev1.Pod{Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
	}
	withContainers := func(p corev1.Pod, cs ...corev1.ContainerStatus) corev1.Pod {
		p.Status.ContainerStatuses = cs
		return p
	}
	waiting := func(name string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}
	}
	running := func(name string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	}
	nodes := []corev1.Node{node("ready", "True"), node("notready", "False"), node("unknown", "Unknown"), node("new", "")}
	tests := map[string]struct {
		pods []corev1.Pod
		want map[string]string
	}{
		"without pods read, only a silent kubelet (Ready Unknown) is dark; Ready False is posted by a live one, none at all is no verdict yet": {
			want: map[string]string{"unknown": NodeUnreachable},
		},
		"with pods read, a node without a running agent pod is dark too": {
			pods: []corev1.Pod{pod("ready", corev1.PodRunning), pod("new", corev1.PodPending), pod("notready", corev1.PodRunning)},
			want: map[string]string{"unknown": NodeUnreachable, "new": AgentGone},
		},
		"a Ready False node whose agent pod runs is alive: its agent still writes what it does": {
			pods: []corev1.Pod{pod("ready", corev1.PodRunning), pod("notready", corev1.PodRunning), pod("unknown", corev1.PodRunning), pod("new", corev1.PodRunning)},
			want: map[string]string{"unknown": NodeUnreachable},
		},
		"with pods read and none found, every agent is gone": {
			pods: []corev1.Pod{},
			want: map[string]string{"ready": AgentGone, "notready": AgentGone, "unknown": NodeUnreachable, "new": AgentGone},
		},
		"a crash-looping agent, its pod Running but its container waiting, is gone": {
			pods: []corev1.Pod{pod("ready", corev1.PodRunning), withContainers(pod("new", corev1.PodRunning), waiting("agent")), pod("notready", corev1.PodRunning)},
			want: map[string]string{"unknown": NodeUnreachable, "new": AgentGone},
		},
		"one container running beside one waiting is enough: a failing sidecar hides no Master": {
			pods: []corev1.Pod{pod("ready", corev1.PodRunning), withContainers(pod("new", corev1.PodRunning), waiting("sidecar"), running("agent")), pod("notready", corev1.PodRunning)},
			want: map[string]string{"unknown": NodeUnreachable},
		},
		"a finished pod beside a running one leaves the node alive": {
			pods: []corev1.Pod{pod("ready", corev1.PodFailed), pod("ready", corev1.PodRunning), pod("new", corev1.PodSucceeded), pod("notready", corev1.PodRunning)},
			want: map[string]string{"unknown": NodeUnreachable, "new": AgentGone},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Nodes(nodes, tc.pods)); diff != "" {
				t.Errorf("Nodes (-want +got):\n%s", diff)
			}
		})
	}
}

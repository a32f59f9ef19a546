package keepalived

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vrrp-dev/vrrp-operator/internal/testenv"
)

// debianSamples is where Debian's keepalived package installs its sample configurations.
const debianSamples = "/usr/share/doc/keepalived/samples"

// sampleReports are the report lines (after the file name) of every sample configuration with
// a vrrp_instance that Debian's keepalived installs. A sample with a vrrp_instance missing here
// fails the test, so that a new keepalived release is looked at. The samples are read where
// Debian puts them, not copied: their addresses are not documentation addresses.
var sampleReports = map[string][]string{
	"keepalived.conf.SSL_GET": {
		"4: note: notification_email: mail settings; the agent sends no mail (only smtp_alert would use them)",
		"7: note: notification_email_from: mail settings; the agent sends no mail (only smtp_alert would use them)",
		"8: note: smtp_server: mail settings; the agent sends no mail (only smtp_alert would use them)",
		"9: note: smtp_connect_timeout: mail settings; the agent sends no mail (only smtp_alert would use them)",
		"10: note: router_id: names the host in keepalived's logs and mail; the agent goes by its node name",
		"13: note: vrrp_instance VI_1: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"14: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"19: not converted: authentication: auth_type AH (IPsec AH, dropped in RFC 3768) is not supported; the VirtualIP has no authentication",
		"30: not converted: virtual_server: LVS virtual servers are not managed by vrrp-operator",
		"55: not converted: virtual_server: LVS virtual servers are not managed by vrrp-operator",
	},
	"keepalived.conf.conditional_conf": {
		"3: not converted: net_namespace: the agent runs in the node's network namespace",
		"4: not converted: net_namespace: the agent runs in the node's network namespace",
		"7: note: script: the check runs check_high_VI_0.sh from the hook directory: copy /etc/keepalived/scripts/check_high_VI_0.sh into ConfigMap vrrp-system/vrrp-operator-hooks (key check_high_VI_0.sh), a placeholder until then, or the standalone agent's --hook-dir; the check fails until then",
		"10: not converted: timeout 10 is longer than interval 1: keepalived lets a run go on and skips the runs that fall due meanwhile, a check's timeout is at most its interval: it becomes 1s, so a run longer than that fails (or raise interval to 10)",
		"15: not converted: vrrp_instance VI_0: the nodes track differently (low unlike high: the scripts, interfaces or files, or their settings): a VirtualIP runs the same checks on every node; it takes high's",
		"15: note: vrrp_instance VI_0: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (high, low) joins at priority 85; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"23: not converted: use_vmac: virtual MAC interfaces are not supported; the VIPs go on the interface itself",
	},
	"keepalived.conf.sample": {
		"4: note: notification_email: mail settings; the agent sends no mail (only smtp_alert would use them)",
		"7: note: notification_email_from: mail settings; the agent sends no mail (only smtp_alert would use them)",
		"8: note: smtp_server: mail settings; the agent sends no mail (only smtp_alert would use them)",
		"9: note: smtp_connect_timeout: mail settings; the agent sends no mail (only smtp_alert would use them)",
		"10: note: router_id: names the host in keepalived's logs and mail; the agent goes by its node name",
		"13: note: vrrp_instance VI_1: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"26: not converted: virtual_server: LVS virtual servers are not managed by vrrp-operator",
	},
	"keepalived.conf.track_interface": {
		"4: note: router_id: names the host in keepalived's logs and mail; the agent goes by its node name",
		"7: not converted: static_routes: static routes are not managed by vrrp-operator",
		"14: note: vrrp_instance VI_1: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"15: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"25: not converted: virtual_ipaddress entry: dev eth1: every address of a VirtualIP goes on its one interface",
		"26: not converted: virtual_ipaddress entry: dev eth2: every address of a VirtualIP goes on its one interface",
		"28: not converted: virtual_routes: routes and rules are not managed; a master and a backup hook can add and remove them",
	},
	"keepalived.conf.vrrp": {
		"4: note: notification_email: mail settings; the agent sends no mail (only smtp_alert would use them)",
		"7: note: notification_email_from: mail settings; the agent sends no mail (only smtp_alert would use them)",
		"8: note: smtp_server: mail settings; the agent sends no mail (only smtp_alert would use them)",
		"9: note: smtp_connect_timeout: mail settings; the agent sends no mail (only smtp_alert would use them)",
		"10: note: router_id: names the host in keepalived's logs and mail; the agent goes by its node name",
		"13: note: vrrp_instance VI_1: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"14: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"16: not converted: garp_master_delay: spec.garp has no counterpart (it has count, interval and refresh)",
		"17: not converted: smtp_alert: the agent sends no mail; a notify hook can",
		"32: not converted: virtual_ipaddress entry: label eth0:1: the agent adds addresses without a label",
		"32: note: virtual_ipaddress entry: the address is listed already; the VirtualIP has it once",
		"36: note: vrrp_instance VI_2: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 50; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"38: not converted: smtp_alert: the agent sends no mail; a notify hook can",
		"49: note: vrrp_instance VI_3: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"50: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"52: not converted: smtp_alert: the agent sends no mail; a notify hook can",
		"67: note: vrrp_instance VI_4: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 50; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"69: not converted: smtp_alert: the agent sends no mail; a notify hook can",
	},
	"keepalived.conf.vrrp.localcheck": {
		`12: not converted: script: keepalived finds killall on PATH; the agent runs only programs in its hook directory: the exec check runs killall from there, so put a program there that does what "killall -0 sshd" did (it fails until then)`,
		`20: not converted: script: keepalived finds killall on PATH; the agent runs only programs in its hook directory: the exec check runs killall from there, so put a program there that does what "killall -0 haproxy" did (it fails until then)`,
		`25: note: script: "</dev/tcp/127.0.0.1/80" connects to 127.0.0.1:80 and exits: a tcp check of 127.0.0.1:80 does the same (keepalived runs it with /bin/sh, which connects only when it is bash: with dash the script always failed)`,
		`31: note: script: "</dev/tcp/127.0.0.1/443" connects to 127.0.0.1:443 and exits: a tcp check of 127.0.0.1:443 does the same (keepalived runs it with /bin/sh, which connects only when it is bash: with dash the script always failed)`,
		`37: note: script: "</dev/tcp/127.0.0.1/25" connects to 127.0.0.1:25 and exits: a tcp check of 127.0.0.1:25 does the same (keepalived runs it with /bin/sh, which connects only when it is bash: with dash the script always failed)`,
		"42: note: vrrp_instance VI_1: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"44: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"64: note: vrrp_instance VI_2: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"66: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"85: note: vrrp_instance VI_3: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"94: note: vrrp_instance VI_4: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"103: note: vrrp_instance VI_5: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"104: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"114: note: vrrp_instance VI_6: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"115: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"124: note: vrrp_instance VI_7: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"125: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"134: note: vrrp_instance VI_8: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"135: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"144: note: vrrp_instance VI_9: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"145: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
	},
	"keepalived.conf.vrrp.lvs_syncd": {
		"3: not converted: vrrp_sync_group: sync groups are not supported: each VirtualIP fails over on its own",
		"8: note: vrrp_instance VI_1: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 150; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"9: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"11: not converted: lvs_sync_daemon_interface: LVS is not managed by vrrp-operator",
		"26: note: vrrp_instance VI_2: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"38: note: vrrp_instance VI_3: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"50: not converted: virtual_server: LVS virtual servers are not managed by vrrp-operator",
	},
	"keepalived.conf.vrrp.routes": {
		"4: note: router_id: names the host in keepalived's logs and mail; the agent goes by its node name",
		"7: not converted: static_routes: static routes are not managed by vrrp-operator",
		"15: note: vrrp_instance VI_1: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"16: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"22: not converted: virtual_ipaddress entry: dev eth1: every address of a VirtualIP goes on its one interface",
		"23: not converted: virtual_ipaddress entry: dev eth2: every address of a VirtualIP goes on its one interface",
		"25: not converted: virtual_routes: routes and rules are not managed; a master and a backup hook can add and remove them",
	},
	"keepalived.conf.vrrp.rules": {
		"6: note: router_id: names the host in keepalived's logs and mail; the agent goes by its node name",
		"9: not converted: static_rules: static rules are not managed by vrrp-operator",
		"14: note: vrrp_instance VI_1: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"15: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"21: not converted: virtual_ipaddress entry: dev eth1: every address of a VirtualIP goes on its one interface",
		"22: not converted: virtual_ipaddress entry: dev eth2: every address of a VirtualIP goes on its one interface",
		"24: not converted: virtual_rules: routes and rules are not managed; a master and a backup hook can add and remove them",
	},
	"keepalived.conf.vrrp.scripts": {
		"6: not converted: vrrp_sync_group: sync groups are not supported: each VirtualIP fails over on its own",
		"16: note: vrrp_instance VI_1: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s. The agent stops a hook that runs longer than 30 s; keepalived never stops notify scripts",
		"17: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"19: not converted: smtp_alert: the agent sends no mail; a notify hook can",
		"32: note: notify_backup: the hook runs vrrp.sh from the hook directory: copy /usr/local/bin/vrrp.sh into ConfigMap vrrp-system/vrrp-operator-hooks (key vrrp.sh), a placeholder until then, or the standalone agent's --hook-dir",
		"38: note: vrrp_instance VI_2: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 150; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"40: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"48: note: vrrp_instance VI_3: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 150; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"50: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
	},
	"keepalived.conf.vrrp.static_ipaddress": {
		"4: note: router_id: names the host in keepalived's logs and mail; the agent goes by its node name",
		"7: not converted: static_ipaddress: static addresses are not managed by vrrp-operator",
		"13: note: vrrp_instance VI_1: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"14: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"21: not converted: virtual_routes: routes and rules are not managed; a master and a backup hook can add and remove them",
	},
	"keepalived.conf.vrrp.sync": {
		"3: not converted: vrrp_sync_group: sync groups are not supported: each VirtualIP fails over on its own",
		"18: not converted: vrrp_sync_group: sync groups are not supported: each VirtualIP fails over on its own",
		"25: note: vrrp_instance VI_1: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"27: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"35: note: vrrp_instance VI_2: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"37: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"45: note: vrrp_instance VI_3: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"54: note: vrrp_instance VI_4: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"63: note: vrrp_instance VI_5: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"64: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"73: note: vrrp_instance VI_6: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"74: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"83: note: vrrp_instance VI_7: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"84: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"93: note: vrrp_instance VI_8: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"94: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
		"103: note: vrrp_instance VI_9: unlike keepalived's defaults: the VirtualIP runs on every node with an agent: a node not named here (node-a) joins at priority 100; add a spec.nodeSelector (kubernetes.io/hostname In [...]) to keep it to these. A new Master sends 3 announcements 1.1s apart (spec.garp), keepalived 5 at once and 5 more after 5 s",
		"104: note: state MASTER: the agent reads no state; it starts as Master the node with the highest priority of all when it preempts without delay (as state MASTER does), the others as Backup (RFC 9568 §6.4.1)",
	},
}

// sampleNodes are the nodes a sample is converted for: the conditional one for the two
// config-ids it names, the others for one node.
func sampleNodes(file string) []Node {
	if strings.HasSuffix(file, ".conditional_conf") {
		return []Node{{Name: "high", File: file}, {Name: "low", File: file}}
	}
	return []Node{{Name: "node-a", File: file}}
}

// TestDebianSamplesConvertOrSayWhatTheyCannot converts every sample configuration with a
// vrrp_instance that Debian's keepalived package installs, and the seed: each converts to
// manifests that a real kube-apiserver accepts (server-side dry-run create, as
// `kubectl apply --dry-run=server`), and names exactly what it does not convert.
func TestDebianSamplesConvertOrSayWhatTheyCannot(t *testing.T) {
	entries, err := os.ReadDir(debianSamples)
	if errors.Is(err, os.ErrNotExist) {
		testenv.Unavailable(t, "test needs keepalived's sample configurations in "+debianSamples+" (apt-get install keepalived)")
	}
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(debianSamples, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("vrrp_instance")) {
			files = append(files, e.Name())
		}
	}
	var listed []string
	for name := range sampleReports {
		listed = append(listed, name)
	}
	sort.Strings(listed)
	if diff := cmp.Diff(listed, files); diff != "" {
		t.Errorf("samples with a vrrp_instance (-listed +installed):\n%s", diff)
	}

	c := apiClient(t)

	type sample struct {
		nodes  []Node
		report []string
		names  map[string]string
	}
	samples := map[string]sample{"the seed": {nodes: seedNodes, names: map[string]string{"VI_1": "services"}}} // TestSeedGolden holds its report
	for _, f := range files {
		samples[f] = sample{nodes: sampleNodes(filepath.Join(debianSamples, f)), report: sampleReports[f]}
	}
	for name, s := range samples {
		t.Run(name, func(t *testing.T) {
			res, err := Convert(Options{Nodes: s.nodes, Names: s.names, HooksConfigMap: DefaultHooksConfigMap})
			if err != nil {
				t.Fatal(err)
			}
			report := []string{}
			for _, f := range res.Findings {
				report = append(report, strings.TrimPrefix(f.String(), s.nodes[0].File+":"))
			}
			if s.report != nil {
				if diff := cmp.Diff(s.report, report); diff != "" {
					t.Errorf("report (-want +got):\n%s", diff)
				}
			}
			if res.Complete() == slices.ContainsFunc(report, func(l string) bool { return strings.Contains(l, "not converted") }) {
				t.Errorf("Complete() = %v with the report %q", res.Complete(), report)
			}
			dryRunCreate(t, c, res)
		})
	}
}

// TestTrackingConvertsToObjectsTheAPIServerAccepts holds every spec.track that TestTracking's
// keepalived configurations convert to, and the ConfigMap stub of their programs, to the real
// kube-apiserver's CRD rules (server-side dry-run create).
func TestTrackingConvertsToObjectsTheAPIServerAccepts(t *testing.T) {
	c := apiClient(t)
	for name, tc := range trackingCases {
		t.Run(name, func(t *testing.T) {
			res, _, err := convertTexts(t, tc.o, tc.texts...)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.VirtualIPs[0].Spec.Track) != len(tc.want) {
				t.Fatalf("converted %d checks, want %d", len(res.VirtualIPs[0].Spec.Track), len(tc.want))
			}
			dryRunCreate(t, c, res)
		})
	}
}

// apiClient starts a kube-apiserver with the CRDs and the agents' namespace.
func apiClient(t *testing.T) client.Client {
	t.Helper()
	_, cfg := testenv.APIServer(t)
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: DefaultNamespace}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return c
}

// dryRunCreate sends the YAML stream of res to the API server as `kubectl apply --dry-run=server`
// would, and fails the test for every object it refuses.
func dryRunCreate(t *testing.T, c client.Client, res *Result) {
	t.Helper()
	var y bytes.Buffer
	if err := WriteYAML(&y, res); err != nil {
		t.Fatal(err)
	}
	objs := decodeStream(t, y.Bytes())
	if len(objs) != len(res.VirtualIPs)+btoi(res.Secret != nil)+btoi(res.ConfigMap != nil) {
		t.Fatalf("the stream holds %d objects, want %d VirtualIPs, the Secret and the ConfigMap:\n%s", len(objs), len(res.VirtualIPs), &y)
	}
	for _, o := range objs {
		if err := c.Create(context.Background(), o, client.DryRunAll); err != nil {
			t.Errorf("the API server refuses %s %s: %v\n%s", o.GetKind(), o.GetName(), err, &y)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// decodeStream reads a YAML stream into the objects kubectl would send.
func decodeStream(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := d.Decode(&m); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("decoding:\n%s\n%v", data, err)
		}
		if m != nil {
			out = append(out, &unstructured.Unstructured{Object: m})
		}
	}
}

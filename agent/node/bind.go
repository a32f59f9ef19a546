package node

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ParseBindAddress turns a --metrics-bind-address into the address to listen on, "" for none. It
// takes "0" or "" (off), ":PORT" (every address of the node, VIPs included), "IPv4:PORT",
// "[IPv6]:PORT" and, because the port is required, an unbracketed "IPv6:PORT" whose last colon
// separates the port ("2001:db8::1:9472" is port 9472 of 2001:db8::1): Kubernetes writes the pod's
// status.hostIP without brackets and the chart passes it as is. The host must be an IP address: a
// name could resolve to more addresses than meant.
func ParseBindAddress(s string) (string, error) {
	if s == "" || s == "0" {
		return "", nil
	}
	var host, port string
	if strings.HasPrefix(s, "[") {
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			return "", fmt.Errorf("bind address %q: %w", s, err)
		}
		if a, err := netip.ParseAddr(h); err != nil || !a.Is6() {
			return "", fmt.Errorf("bind address %q: brackets hold an IPv6 address, not %q", s, h)
		}
		host, port = h, p
	} else {
		i := strings.LastIndexByte(s, ':')
		if i < 0 {
			return "", fmt.Errorf("bind address %q: want HOST:PORT, :PORT or 0", s)
		}
		host, port = s[:i], s[i+1:]
	}
	if host != "" {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return "", fmt.Errorf("bind address %q: host %q is not an IP address (the port follows the last colon)", s, host)
		}
		host = a.String()
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", fmt.Errorf("bind address %q: port %q, want 1 to 65535", s, port)
	}
	return net.JoinHostPort(host, strconv.FormatUint(p, 10)), nil
}

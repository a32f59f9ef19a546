package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vrrp-dev/vrrp-operator/agent/metrics"
)

// metricsAddr is where agents serve /metrics: loopback of their own namespace.
const metricsAddr = "127.0.0.1:9472"

// sample is one series of a scrape.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape is the parsed text exposition of an agent's /metrics.
type scrape []sample

// sum adds the values of the series of name whose labels include match.
func (s scrape) sum(name string, match map[string]string) float64 {
	total := 0.0
	for _, x := range s {
		if x.name != name {
			continue
		}
		ok := true
		for k, v := range match {
			if x.labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			total += x.value
		}
	}
	return total
}

// state returns the state a router is in by vrrp_operator_router_state, or "" if none is 1.
func (s scrape) state(router string) string {
	for _, x := range s {
		if x.name == metrics.RouterState && x.labels["virtual_ip"] == router && x.value == 1 {
			return x.labels["state"]
		}
	}
	return ""
}

// metrics scrapes the agent. The connection is opened inside the agent's namespace, where it
// stays; the agent's endpoint is on that namespace's loopback.
func (a *agent) metrics() (scrape, error) {
	var conn net.Conn
	if err := a.node.Do(func() error {
		var err error
		conn, err = net.DialTimeout("tcp", metricsAddr, 2*time.Second)
		return err
	}); err != nil {
		return nil, fmt.Errorf("connecting to the metrics of agent %s: %w", a.name, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET /metrics HTTP/1.0\r\nHost: agent\r\nAccept: text/plain\r\n\r\n"); err != nil {
		return nil, fmt.Errorf("asking agent %s for metrics: %w", a.name, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, fmt.Errorf("reading the metrics of agent %s: %w", a.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics of agent %s: %s", a.name, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the metrics of agent %s: %w", a.name, err)
	}
	return parseMetrics(string(body))
}

var labelRE = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// parseMetrics parses the Prometheus text format, enough for the agent's own series.
func parseMetrics(text string) (scrape, error) {
	var s scrape
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		x := sample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				return nil, fmt.Errorf("metrics line %q: unbalanced braces", line)
			}
			x.name = line[:i]
			for _, m := range labelRE.FindAllStringSubmatch(line[i+1:j], -1) {
				x.labels[m[1]] = m[2]
			}
			rest = line[j+1:]
		} else {
			f := strings.Fields(line)
			x.name, rest = f[0], strings.TrimPrefix(line, f[0])
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("metrics line %q: no value", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		x.value = v
		s = append(s, x)
	}
	return s, nil
}

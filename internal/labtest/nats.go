package labtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NATSNode is one nats-server of a NATSCluster.
type NATSNode struct {
	Name string
	// MQTTURL is tcp://127.0.0.1:PORT of its MQTT gateway.
	MQTTURL string
	// Log is the node's log file.
	Log string
	// Monitor is the node's HTTP monitoring address (host:port).
	Monitor string

	conf string
	mu   sync.Mutex // guards the fields below
	cmd  *exec.Cmd
	done chan struct{}
}

// NATSOptions tune a NATSCluster's MQTT gateway. The zero value keeps the
// consumers (the MQTT sessions' subscriptions) like the streams: replicated, on disk.
type NATSOptions struct {
	// ConsumerReplicas of the MQTT consumers; 0: as many as the streams.
	ConsumerReplicas int
	// ConsumerMemory keeps the MQTT consumers in memory.
	ConsumerMemory bool
}

// NATSCluster is a JetStream cluster of nats-server nodes with their MQTT gateways,
// private to one test, on free loopback ports, stopped when the test ends.
type NATSCluster struct {
	Nodes []*NATSNode
	t     testing.TB
}

// StartNATSCluster starts n nodes (n >= 3 for a quorum that survives one loss) and
// waits until the JetStream cluster has a metadata leader and every MQTT gateway
// listens. MQTT's streams keep 3 replicas (or n when smaller), so retained messages,
// sessions and queued QoS 1 messages survive the loss of one node. Without nats-server
// it skips the test (fails it under CI).
func StartNATSCluster(t testing.TB, n int, o NATSOptions) *NATSCluster {
	t.Helper()
	Require(t, "nats-server")
	dir := t.TempDir()
	c := &NATSCluster{t: t}
	type ports struct{ client, route, mqtt, http int }
	ps := make([]ports, n)
	var routes []string
	for i := range ps {
		ps[i] = ports{FreePort(t), FreePort(t), FreePort(t), FreePort(t)}
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ps[i].route))
	}
	replicas := min(3, n)
	for i, p := range ps {
		name := fmt.Sprintf("n%d", i+1)
		nd := &NATSNode{Name: name, MQTTURL: fmt.Sprintf("tcp://127.0.0.1:%d", p.mqtt), Monitor: fmt.Sprintf("127.0.0.1:%d", p.http),
			Log: filepath.Join(dir, name+".log"), conf: filepath.Join(dir, name+".conf")}
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
jetstream { store_dir: %q }
cluster { name: sscagent-test, listen: 127.0.0.1:%d, routes: [%s] }
mqtt { listen: 127.0.0.1:%d, stream_replicas: %d, consumer_replicas: %d, consumer_memory_storage: %t }
`, name, p.client, p.http, filepath.Join(dir, name+"-js"), p.route, strings.Join(routes, ", "), p.mqtt, replicas, o.ConsumerReplicas, o.ConsumerMemory)
		if err := os.WriteFile(nd.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		c.Nodes = append(c.Nodes, nd)
	}
	t.Cleanup(c.Stop)
	for _, nd := range c.Nodes {
		if err := nd.start(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for !c.ready() {
		if time.Now().After(deadline) {
			t.Fatalf("NATS cluster not ready within 30s:\n%s", c.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

// ready reports a metadata leader and every MQTT gateway listening, and the leader
// seeing all its peers current (/jsz): before that, an MQTT client's replicated session
// stream finds "no suitable peers for placement" and the node refuses the connection.
func (c *NATSCluster) ready() bool {
	leader := false
	for _, nd := range c.Nodes {
		b, _ := os.ReadFile(nd.Log)
		s := string(b)
		if !strings.Contains(s, "Listening for MQTT clients") {
			return false
		}
		if strings.Contains(s, "new JetStream cluster metadata leader") || strings.Contains(s, "JetStream cluster new metadata leader") {
			leader = true
		}
	}
	if !leader {
		return false
	}
	// Every node names the same leader; the leader sees all its peers current (only
	// the leader lists them).
	lead := ""
	for _, nd := range c.Nodes {
		m, ok := nd.meta()
		if !ok || m.Leader == "" || m.ClusterSize != len(c.Nodes) || (lead != "" && m.Leader != lead) {
			return false
		}
		lead = m.Leader
		if nd.Name != m.Leader {
			continue
		}
		if len(m.Replicas) != len(c.Nodes)-1 {
			return false
		}
		for _, r := range m.Replicas {
			if !r.Current || r.Offline {
				return false
			}
		}
	}
	return true
}

// metaCluster is the meta_cluster of a node's /jsz.
type metaCluster struct {
	Leader      string `json:"leader"`
	ClusterSize int    `json:"cluster_size"`
	Replicas    []struct {
		Current bool `json:"current"`
		Offline bool `json:"offline"`
	} `json:"replicas"`
}

// meta reads the node's JetStream metadata group from its monitoring endpoint.
func (nd *NATSNode) meta() (metaCluster, bool) {
	resp, err := http.Get("http://" + nd.Monitor + "/jsz")
	if err != nil {
		return metaCluster{}, false
	}
	defer resp.Body.Close()
	var v struct {
		Meta metaCluster `json:"meta_cluster"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return metaCluster{}, false
	}
	return v.Meta, true
}

// MQTTURLs are the nodes' MQTT URLs, starting at node first (so clients can be
// spread over the nodes).
func (c *NATSCluster) MQTTURLs(first int) []string {
	out := make([]string, 0, len(c.Nodes))
	for i := range c.Nodes {
		out = append(out, c.Nodes[(first+i)%len(c.Nodes)].MQTTURL)
	}
	return out
}

// Clients returns the number of client connections (MQTT included) node i serves,
// from its monitoring endpoint (/connz).
func (c *NATSCluster) Clients(i int) (int, error) {
	resp, err := http.Get("http://" + c.Nodes[i].Monitor + "/connz?limit=1")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var v struct {
		Total int `json:"total"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return 0, err
	}
	return v.Total, nil
}

// Kill ends node i at once (SIGKILL): no goodbye to its clients or peers.
func (c *NATSCluster) Kill(i int) {
	nd := c.Nodes[i]
	nd.mu.Lock()
	cmd, done := nd.cmd, nd.done
	nd.cmd = nil
	nd.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Stop ends every node.
func (c *NATSCluster) Stop() {
	for _, nd := range c.Nodes {
		nd.mu.Lock()
		cmd, done := nd.cmd, nd.done
		nd.cmd = nil
		nd.mu.Unlock()
		if cmd != nil {
			stopProcess(cmd.Process, os.Interrupt, done)
		}
	}
}

// Logs returns the tails of the nodes' logs, for a failure message.
func (c *NATSCluster) Logs() string {
	var b strings.Builder
	for _, nd := range c.Nodes {
		data, _ := os.ReadFile(nd.Log)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", nd.Name, strings.Join(lines, "\n"))
	}
	return b.String()
}

// PID returns the node's process id, 0 when stopped.
func (nd *NATSNode) PID() int {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil {
		return 0
	}
	return nd.cmd.Process.Pid
}

func (nd *NATSNode) start() error {
	logf, err := os.OpenFile(nd.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command("nats-server", "-c", nd.conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start nats-server: %w", err)
	}
	done := make(chan struct{})
	go func() { // owned by nd: ends when the server exits
		_ = cmd.Wait()
		close(done)
	}()
	nd.mu.Lock()
	nd.cmd, nd.done = cmd, done
	nd.mu.Unlock()
	return nil
}

package orchestrator_test

// The northbound API under load, side by side with kube-apiserver: 200
// concurrent clients reading one object by name, or listing all 100, from
// each server in turn. It runs only when CLOUDSKIN_COMPARE_OUT is set
// (bench/compare-api.sh, from `make bench`); bench/NOTES.md says what is
// measured and docs/rationale/apibench.md why it is measured this way.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/auth"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/httpserver"
	"github.com/cloudskin/cloudskin/internal/kubetest"
	"github.com/cloudskin/cloudskin/internal/logging"
	"github.com/cloudskin/cloudskin/internal/metrics"
	"github.com/cloudskin/cloudskin/orchestrator"
	"github.com/cloudskin/cloudskin/store/bolt"
)

const (
	loadClients   = 200
	loadObjects   = 100
	loadWarmUp    = time.Second
	loadNamespace = "apibench"
	// loadRequestTimeout bounds one request, so a stuck server cannot
	// keep the run from stopping.
	loadRequestTimeout = 30 * time.Second
	// envLoadServer, set to a directory, makes TestAPILoadServerProcess
	// serve a control plane from it instead of skipping.
	envLoadServer = "CLOUDSKIN_APILOAD_SERVER_DIR"
	// loadBanner starts the line on which that process gives its URL.
	loadBanner = "apiload: serving "
	// userHZ is the unit of the CPU times in /proc/<pid>/stat: USER_HZ,
	// 100 on the architectures we run on.
	userHZ = 100
)

// TestCompareAPILoad measures p50 and p99 latency, throughput and server
// CPU per request of GET-one and LIST-all under 200 closed-loop clients,
// on our control plane and on kube-apiserver, and writes TSV rows to
// $CLOUDSKIN_COMPARE_OUT: benchmark, command, peer, median ours, median
// peer (medians of $CLOUDSKIN_COMPARE_RUNS runs of
// $CLOUDSKIN_COMPARE_SECONDS seconds each, after 1 s of warm-up).
func TestCompareAPILoad(t *testing.T) {
	out := os.Getenv("CLOUDSKIN_COMPARE_OUT")
	if out == "" {
		t.Skip("set CLOUDSKIN_COMPARE_OUT to run the comparison (bench/compare-api.sh)")
	}
	runs := loadEnvInt("CLOUDSKIN_COMPARE_RUNS", 3)
	window := time.Duration(loadEnvInt("CLOUDSKIN_COMPARE_SECONDS", 5)) * time.Second
	ctx := t.Context()

	cluster := kubetest.Start(t) // skips when etcd or kube-apiserver is absent
	ours := startLoadServer(t)
	objectSize := seedOurs(ctx, t, ours)
	peer, err := kubeTarget(cluster)
	if err != nil {
		t.Fatal(err)
	}
	seedKube(ctx, t, peer, objectSize)
	ourInfo, peerInfo := describe(ctx, t, ours), describe(ctx, t, peer)
	t.Logf("ours: %s; peer: %s", ourInfo, peerInfo)

	f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, op := range loadOperations() {
		var o, p []loadResult
		for run := range runs {
			// Alternate who goes first, so drift in the machine's state
			// (page cache, CPU frequency, other tenants) does not always
			// favour the same side.
			first, second := ours, peer
			if run%2 == 1 {
				first, second = peer, ours
			}
			a := measureLoad(ctx, t, first, op, window)
			b := measureLoad(ctx, t, second, op, window)
			if first == peer {
				a, b = b, a
			}
			o, p = append(o, a), append(p, b)
		}
		writeLoadRows(f, op, medianLoad(o), medianLoad(p),
			fmt.Sprintf("control plane (%s): GET %s", ourInfo, ours.example(op)),
			fmt.Sprintf("%s: GET %s", peerInfo, peer.example(op)))
	}
}

// loadOperation is one kind of request the clients repeat.
type loadOperation struct {
	name string
	list bool // list every object, or get one chosen at random
}

func loadOperations() []loadOperation {
	return []loadOperation{
		{name: fmt.Sprintf("GET one of %d", loadObjects)},
		{name: fmt.Sprintf("LIST %d", loadObjects), list: true},
	}
}

// loadTarget is one server under load.
type loadTarget struct {
	name     string
	base     string      // scheme://127.0.0.1:port
	token    string      // what the load sends: read-only where the server has roles
	seeder   string      // what seeding sends
	tls      *tls.Config // nil for plain HTTP
	objects  string      // the collection's path; objects are objects/app-NNN
	pids     []int       // the server's processes, whose CPU time is counted
	pnames   []string    // their names
	listKind string      // the kind of the collection, e.g. "ApplicationList"

	handshakes, resumed atomic.Int64 // TLS handshakes by the clients, and how many resumed a session
}

// countHandshakes makes tg count its clients' TLS handshakes, to show
// that reconnections resume sessions.
func (tg *loadTarget) countHandshakes() {
	tg.tls.VerifyConnection = func(cs tls.ConnectionState) error {
		tg.handshakes.Add(1)
		if cs.DidResume {
			tg.resumed.Add(1)
		}
		return nil
	}
}

func (tg *loadTarget) path(op loadOperation) string {
	if op.list {
		return tg.objects
	}
	return fmt.Sprintf("%s/%s", tg.objects, loadObjectName(rand.IntN(loadObjects)))
}

func (tg *loadTarget) example(op loadOperation) string {
	if op.list {
		return tg.objects
	}
	return tg.objects + "/app-NNN"
}

func loadObjectName(i int) string { return fmt.Sprintf("app-%03d", i) }

// newClient is one client of the load: its own Transport, so its own
// keep-alive connection, HTTP/1.1 only, no gzip (kube-apiserver would
// compress large lists, our server never does), dialling loopback only.
// TLS sessions are shared through tg.tls, so reconnections resume.
func (tg *loadTarget) newClient() *http.Client {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	return &http.Client{
		Timeout: loadRequestTimeout,
		Transport: &http.Transport{
			DialContext:         dialLoopback,
			TLSClientConfig:     tg.tls,
			Protocols:           &protocols,
			DisableCompression:  true,
			MaxConnsPerHost:     1,
			MaxIdleConnsPerHost: 1,
		},
	}
}

// dialLoopback refuses any address outside 127.0.0.0/8 (and ::1): the load
// is for servers this test started, never for anything else.
func dialLoopback(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("load test: dial %s: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("load test: %s is not a loopback address; the load goes to 127.0.0.0/8 only", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// send makes one request and returns the answer's body, or an error if
// the status is not want.
func (tg *loadTarget) send(ctx context.Context, c *http.Client, method, path, token, contentType string, body []byte, want int) ([]byte, *http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, tg.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return data, resp, fmt.Errorf("%s %s: %s, want %d: %.300s", method, path, resp.Status, want, data)
	}
	return data, resp, nil
}

// read is the load's request: GET path and drain the body.
func (tg *loadTarget) read(ctx context.Context, c *http.Client, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tg.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tg.token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s: GET %s: %w", tg.name, path, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("%s: GET %s: reading the answer: %w", tg.name, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: GET %s: %s", tg.name, path, resp.Status)
	}
	return nil
}

// loadSample is one request of the load.
type loadSample struct {
	start time.Time
	took  time.Duration
}

// loadResult is one measurement of one operation on one server.
type loadResult struct {
	p50, p99 time.Duration
	rate     float64       // requests completed per second in the window
	cpu      time.Duration // the server's CPU time per request in the window
}

// measureLoad runs loadClients closed-loop clients against tg for the
// warm-up and then window, and summarises the requests that started in
// the window. Any failed request fails the test.
func measureLoad(ctx context.Context, t *testing.T, tg *loadTarget, op loadOperation, window time.Duration) loadResult {
	t.Helper()
	begin := time.Now()
	from := begin.Add(loadWarmUp)
	until := from.Add(window)
	samples := make([][]loadSample, loadClients)
	errs := make([]error, loadClients)
	var wg sync.WaitGroup
	var cpu cpuUse
	var cpuErr error
	wg.Go(func() { cpu, cpuErr = cpuDuring(ctx, tg.pids, from, until) })
	handshakes, resumed := tg.handshakes.Load(), tg.resumed.Load()
	for i := range loadClients {
		wg.Go(func() {
			c := tg.newClient()
			defer c.CloseIdleConnections()
			for {
				t0 := time.Now()
				if !t0.Before(until) || ctx.Err() != nil {
					return
				}
				if err := tg.read(ctx, c, tg.path(op)); err != nil {
					errs[i] = err
					return
				}
				samples[i] = append(samples[i], loadSample{t0, time.Since(t0)})
			}
		})
	}
	wg.Wait()
	if err := firstError(errs); err != nil {
		t.Fatalf("%s %s: %v", tg.name, op.name, err)
	}
	if cpuErr != nil {
		t.Fatalf("%s %s: CPU time: %v", tg.name, op.name, cpuErr)
	}
	r, n := summarize(slices.Concat(samples...), from, until)
	if n == 0 {
		t.Fatalf("%s %s: no request completed in the window", tg.name, op.name)
	}
	var total time.Duration
	for _, d := range cpu.server {
		total += d
	}
	r.cpu = total / time.Duration(n)
	logLoad(t, tg, op, r, cpu, window, tg.handshakes.Load()-handshakes, tg.resumed.Load()-resumed)
	return r
}

// logLoad logs a measurement with where the machine's CPU went: to each
// of the server's processes, to the load generator, and to everything
// else (which should be close to 0 for the numbers to mean much).
func logLoad(t *testing.T, tg *loadTarget, op loadOperation, r loadResult, cpu cpuUse, window time.Duration, handshakes, resumed int64) {
	t.Helper()
	cores := func(d time.Duration) float64 { return d.Seconds() / window.Seconds() }
	var used []string
	others := cpu.machine - cpu.own
	for i, d := range cpu.server {
		used = append(used, fmt.Sprintf("%s %.2f", tg.pnames[i], cores(d)))
		others -= d
	}
	used = append(used, fmt.Sprintf("load generator %.2f", cores(cpu.own)), fmt.Sprintf("others %.2f", cores(others)))
	if tg.tls != nil {
		used = append(used, fmt.Sprintf("TLS handshakes %d, %d of them resumed", handshakes, resumed))
	}
	t.Logf("%-14s %-13s p50 %7.2f ms  p99 %7.2f ms  %6.0f req/s  server CPU %4.0f µs/req; cores used: %s",
		tg.name, op.name, loadMS(r.p50), loadMS(r.p99), r.rate, float64(r.cpu)/1e3, strings.Join(used, ", "))
}

// summarize takes the latencies of the requests that started in
// [from, until) and the rate of those that completed in it; n is how
// many completed.
func summarize(all []loadSample, from, until time.Time) (r loadResult, n int) {
	var lat []time.Duration
	for _, s := range all {
		end := s.start.Add(s.took)
		if !s.start.Before(from) && s.start.Before(until) {
			lat = append(lat, s.took)
		}
		if !end.Before(from) && end.Before(until) {
			n++
		}
	}
	if len(lat) == 0 {
		return r, 0
	}
	slices.Sort(lat)
	r.p50, r.p99 = percentile(lat, 0.50), percentile(lat, 0.99)
	r.rate = float64(n) / until.Sub(from).Seconds()
	return r, n
}

// percentile is the nearest-rank percentile of sorted latencies.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func firstError(errs []error) error {
	var failed int
	var first error
	for _, err := range errs {
		if err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if first != nil {
		return fmt.Errorf("%d of %d clients failed; the first: %w", failed, len(errs), first)
	}
	return nil
}

// medianLoad takes the median of each figure separately.
func medianLoad(rs []loadResult) loadResult {
	pick := func(f func(loadResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return loadResult{
		p50:  time.Duration(pick(func(r loadResult) float64 { return float64(r.p50) })),
		p99:  time.Duration(pick(func(r loadResult) float64 { return float64(r.p99) })),
		rate: pick(func(r loadResult) float64 { return r.rate }),
		cpu:  time.Duration(pick(func(r loadResult) float64 { return float64(r.cpu) })),
	}
}

func writeLoadRows(w io.Writer, op loadOperation, o, p loadResult, ourCmd, peerCmd string) {
	what := fmt.Sprintf("API %s, %d clients", op.name, loadClients)
	fmt.Fprintf(w, "%s, p50\t%s\t%s\t%.2f ms\t%.2f ms\n", what, ourCmd, peerCmd, loadMS(o.p50), loadMS(p.p50))
	fmt.Fprintf(w, "%s, p99\t%s\t%s\t%.2f ms\t%.2f ms\n", what, ourCmd, peerCmd, loadMS(o.p99), loadMS(p.p99))
	fmt.Fprintf(w, "%s, throughput in req/s (higher is better)\t%s\t%s\t%.0f req/s\t%.0f req/s\n", what, ourCmd, peerCmd, o.rate, p.rate)
	fmt.Fprintf(w, "%s, server CPU per request\t%s\t%s\t%.0f µs\t%.0f µs\n", what, ourCmd, peerCmd, float64(o.cpu)/1e3, float64(p.cpu)/1e3)
}

func loadMS(d time.Duration) float64 { return float64(d) / 1e6 }

// cpuUse is the CPU time spent in a window.
type cpuUse struct {
	server  []time.Duration // by each of the server's processes
	own     time.Duration   // by this process, the load generator
	machine time.Duration   // by every process on the machine
}

// cpuDuring returns the CPU time the processes pids, this process and the
// whole machine spent between from and until.
func cpuDuring(ctx context.Context, pids []int, from, until time.Time) (cpuUse, error) {
	all := append(slices.Clone(pids), os.Getpid())
	read := func() ([]time.Duration, error) {
		times := make([]time.Duration, len(all)+1)
		for i, pid := range all {
			var err error
			if times[i], err = cpuTime(pid); err != nil {
				return nil, err
			}
		}
		var err error
		times[len(all)], err = machineBusy()
		return times, err
	}
	if !sleepUntil(ctx, from) {
		return cpuUse{}, ctx.Err()
	}
	before, err := read()
	if err != nil {
		return cpuUse{}, err
	}
	if !sleepUntil(ctx, until) {
		return cpuUse{}, ctx.Err()
	}
	after, err := read()
	if err != nil {
		return cpuUse{}, err
	}
	for i := range after {
		after[i] -= before[i]
	}
	return cpuUse{server: after[:len(pids)], own: after[len(pids)], machine: after[len(pids)+1]}, nil
}

// machineBusy is the CPU time all processors have spent not idle (nor
// waiting for I/O) since boot, from /proc/stat.
func machineBusy() (time.Duration, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 6 || fields[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: first line %q is not the CPU totals", line)
	}
	var busy int64
	for i, f := range fields[1:] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %q: %w", f, err)
		}
		// user nice system idle iowait irq softirq steal guest...; guest
		// time is counted in user already.
		if i != 3 && i != 4 && i < 8 {
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / userHZ, nil
}

func sleepUntil(ctx context.Context, at time.Time) bool {
	timer := time.NewTimer(time.Until(at))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// cpuTime is the user and system CPU time a process has used, from
// /proc/<pid>/stat.
func cpuTime(pid int) (time.Duration, error) {
	st, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	var ticks int64
	// Counting from the state, field 3: utime is field 14, stime 15.
	for _, f := range []int{14, 15} {
		n, err := strconv.ParseInt(st[f-3], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat field %d: %w", pid, f, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// procStat returns the fields of /proc/<pid>/stat that follow the
// command name (which is in parentheses and may hold spaces): the first
// is field 3, the state.
func procStat(pid int) ([]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 13 {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields after the command name, want at least 13", pid, len(fields))
	}
	return fields, nil
}

// childrenNamed returns the pids of this process's children with the
// commands names (kubetest's kube-apiserver and etcd), in that order.
func childrenNamed(names ...string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	found := map[string][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			continue // gone since
		}
		st, err := procStat(pid)
		if err != nil {
			continue
		}
		if ppid, _ := strconv.Atoi(st[1]); ppid == os.Getpid() {
			name := strings.TrimSpace(string(comm))
			found[name] = append(found[name], pid)
		}
	}
	pids := make([]int, len(names))
	for i, name := range names {
		if len(found[name]) != 1 {
			return nil, fmt.Errorf("%d child processes named %s, want 1", len(found[name]), name)
		}
		pids[i] = found[name][0]
	}
	return pids, nil
}

// kubeTarget is the cluster's API server, read with its admin token
// (system:masters) over TLS 1.3 with session resumption.
func kubeTarget(c *kubetest.Cluster) (*loadTarget, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.Config.CAData) {
		return nil, errors.New("kube-apiserver: no certificate in the cluster's CA data")
	}
	names := []string{"kube-apiserver", "etcd"}
	pids, err := childrenNamed(names...)
	if err != nil {
		return nil, fmt.Errorf("kube-apiserver and etcd processes: %w", err)
	}
	tg := &loadTarget{
		name:    "kube-apiserver",
		base:    c.Config.Host,
		token:   c.Config.BearerToken,
		seeder:  c.Config.BearerToken,
		objects: "/api/v1/namespaces/" + loadNamespace + "/configmaps",
		pids:    pids,
		pnames:  names,
		tls: &tls.Config{
			RootCAs:            pool,
			NextProtos:         []string{"http/1.1"},
			ClientSessionCache: tls.NewLRUClientSessionCache(2 * loadClients),
		},
		listKind: "ConfigMapList",
	}
	tg.countHandshakes()
	return tg, nil
}

// startLoadServer runs our control plane in a process of its own (this
// test binary, running TestAPILoadServerProcess), as kube-apiserver runs
// in its own: the load generator's goroutines and garbage do not share a
// Go runtime with either server. Authentication is on, with a tokens file
// made as `cloudskin up --auth` makes it; the load uses the viewer token.
func startLoadServer(t *testing.T) *loadTarget {
	t.Helper()
	dir := t.TempDir()
	tokens, err := auth.Generate(filepath.Join(dir, continuumTokensFile))
	if err != nil {
		t.Fatal(err)
	}
	byRole := map[auth.Role]string{}
	for _, tok := range tokens.Tokens {
		byRole[tok.Role] = tok.Token
	}
	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAPILoadServerProcess$", "-test.count=1", "-test.timeout=0")
	cmd.Env = append(os.Environ(), envLoadServer+"="+dir)
	cmd.Stderr = logFile
	// If this test binary dies, the server must not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the control plane process: %v", err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		stdin.Close() // the server's signal to shut down
		select {
		case <-exited:
		case <-time.After(2 * httpserver.ShutdownTimeout):
			t.Errorf("the control plane process did not stop within %s; killing it", 2*httpserver.ShutdownTimeout)
			cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			log, _ := os.ReadFile(logPath)
			t.Logf("control plane log:\n%s", log)
		}
	})
	urls := make(chan string, 1)
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), loadBanner); ok {
				urls <- u
			}
		}
		cmd.Wait()
	}()
	select {
	case u := <-urls:
		return &loadTarget{
			name:     "control plane",
			base:     u,
			token:    byRole[auth.Viewer],
			seeder:   byRole[auth.Operator],
			objects:  "/api/v1/applications",
			pids:     []int{cmd.Process.Pid},
			pnames:   []string{"control plane"},
			listKind: "ApplicationList",
		}
	case <-exited:
		t.Fatal("the control plane process exited before serving")
	case <-time.After(time.Minute):
		t.Fatal("the control plane process did not serve within a minute")
	}
	return nil
}

// continuumTokensFile is the tokens file's name under the data directory,
// as `cloudskin up --auth` names it.
const continuumTokensFile = "tokens.yaml"

// TestAPILoadServerProcess is not a test: TestCompareAPILoad runs this
// test binary again with $CLOUDSKIN_APILOAD_SERVER_DIR set to make it the
// control plane under load. It serves as `cloudskin up --auth` does (bbolt
// store, tokens file, /api/v1 guarded), without agents, on a free loopback
// port it prints, until its standard input closes.
func TestAPILoadServerProcess(t *testing.T) {
	dir := os.Getenv(envLoadServer)
	if dir == "" {
		t.Skip("the control plane process of TestCompareAPILoad; runs only when it starts it")
	}
	if err := serveForLoad(dir, os.Stdin, os.Stdout, os.Stderr); err != nil {
		t.Fatal(err)
	}
}

func serveForLoad(dir string, stop io.Reader, out, logs io.Writer) error {
	authz, err := auth.Load(filepath.Join(dir, continuumTokensFile))
	if err != nil {
		return err
	}
	st, err := bolt.Open(filepath.Join(dir, "state.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	log, err := logging.New(logs, "warn", logging.FormatText)
	if err != nil {
		return err
	}
	reg := metrics.New("apibench", "apibench")
	host := &component.Host{
		Log:             log,
		Metrics:         reg.Registerer,
		Server:          httpserver.New(log, reg),
		Store:           st,
		DataDir:         dir,
		ControlPlaneURL: "http://" + ln.Addr().String(),
	}
	host.Server.Guard("/api/v1/", authz.Guard)
	cp := orchestrator.New(orchestrator.Options{NotReadyAfter: 6 * time.Second}) // config/defaults.yaml
	if err := cp.Setup(host); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		io.Copy(io.Discard, stop)
		cancel()
	}()
	var wg sync.WaitGroup
	var serveErr error
	wg.Go(func() { serveErr = host.Server.Serve(ctx, ln) })
	wg.Go(func() { cp.Run(ctx) })
	fmt.Fprintln(out, loadBanner+host.ControlPlaneURL)
	wg.Wait()
	return serveErr
}

// compactSize is the size of a JSON document without its white space:
// our server indents small answers, kube-apiserver never does, and the
// objects should hold about as much on both sides.
func compactSize(t *testing.T, doc []byte) int {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, doc); err != nil {
		t.Fatalf("not JSON: %v: %.200s", err, doc)
	}
	return b.Len()
}

// seedOurs publishes a block and applies loadObjects applications of one
// component with one replica. No site is registered, so nothing is placed
// or run: the reconcile loop still passes over them every 2 s, as it does
// in production, and marks them pending. It returns the size of one
// application as compact JSON.
func seedOurs(ctx context.Context, t *testing.T, tg *loadTarget) int {
	t.Helper()
	c := tg.newClient()
	defer c.CloseIdleConnections()
	module := []byte("\x00asm\x01\x00\x00\x00 any bytes are a module to the control plane")
	sum := sha256.Sum256(module)
	digest := hex.EncodeToString(sum[:])
	must := func(_ []byte, _ *http.Response, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("seeding the control plane: %v", err)
		}
	}
	must(tg.send(ctx, c, http.MethodPut, "/api/v1/modules/"+digest, tg.seeder, "application/wasm", module, http.StatusNoContent))
	must(tg.send(ctx, c, http.MethodPost, "/api/v1/blocks", tg.seeder, "application/json", loadJSON(t, loadBlock(digest)), http.StatusCreated))
	for i := range loadObjects {
		name := loadObjectName(i)
		must(tg.send(ctx, c, http.MethodPut, tg.objects+"/"+name, tg.seeder, "application/json", loadJSON(t, loadApplication(name)), http.StatusCreated))
	}
	// Wait until the reconcile loop has given every application the
	// status it keeps during the load (pending, for want of a site).
	var size int
	waitFor(ctx, t, "the applications' first reconciliation", func() bool {
		data, _, err := tg.send(ctx, c, http.MethodGet, tg.objects, tg.token, "", nil, http.StatusOK)
		var list v1alpha1.ApplicationList
		if err != nil || json.Unmarshal(data, &list) != nil {
			t.Fatalf("list the applications: %v", err)
		}
		for _, a := range list.Items {
			if a.Status.ObservedGeneration != a.Metadata.Generation || len(a.Status.Conditions) == 0 {
				return false
			}
		}
		one, _, err := tg.send(ctx, c, http.MethodGet, tg.objects+"/"+loadObjectName(loadObjects-1), tg.token, "", nil, http.StatusOK)
		if err != nil {
			t.Fatal(err)
		}
		size = compactSize(t, one)
		return true
	})
	checkList(ctx, t, tg, c)
	return size
}

func loadBlock(module string) v1alpha1.Block {
	return v1alpha1.Block{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindBlock},
		Metadata: v1alpha1.ObjectMeta{Name: "bench"},
		Spec: v1alpha1.BlockSpec{
			Version: "1.0.0", Type: v1alpha1.BlockCell, Description: "a block for the API load test",
			Cell:      &v1alpha1.CellTemplate{Module: module, Memory: v1alpha1.MustParseQuantity("64Mi")},
			Resources: v1alpha1.Resources{CPU: v1alpha1.MustParseQuantity("100m"), Memory: v1alpha1.MustParseQuantity("64Mi")},
		},
	}
}

func loadApplication(name string) v1alpha1.Application {
	one := 1
	return v1alpha1.Application{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindApplication},
		Metadata: v1alpha1.ObjectMeta{Name: name, Labels: map[string]string{"bench": "api"}},
		Spec: v1alpha1.ApplicationSpec{
			Components: []v1alpha1.Component{{Name: "main", Block: "bench", Replicas: &one}},
		},
	}
}

// seedKube makes the namespace and loadObjects ConfigMaps of about size
// bytes as compact JSON, the size of one of our applications: a first
// ConfigMap with empty data shows the envelope's size (metadata,
// managedFields), and the data makes up the rest.
func seedKube(ctx context.Context, t *testing.T, tg *loadTarget, size int) {
	t.Helper()
	c := tg.newClient()
	defer c.CloseIdleConnections()
	must := func(data []byte, _ *http.Response, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatalf("seeding kube-apiserver: %v", err)
		}
		return data
	}
	ns := fmt.Sprintf(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q}}`, loadNamespace)
	must(tg.send(ctx, c, http.MethodPost, "/api/v1/namespaces", tg.seeder, "application/json", []byte(ns), http.StatusCreated))
	configMap := func(name, value string) []byte {
		return loadJSON(t, map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": name, "labels": map[string]string{"bench": "api"}},
			"data":     map[string]string{"value": value},
		})
	}
	probe := loadObjectName(0)
	must(tg.send(ctx, c, http.MethodPost, tg.objects, tg.seeder, "application/json", configMap(probe, ""), http.StatusCreated))
	envelope := compactSize(t, must(tg.send(ctx, c, http.MethodGet, tg.objects+"/"+probe, tg.token, "", nil, http.StatusOK)))
	must(tg.send(ctx, c, http.MethodDelete, tg.objects+"/"+probe, tg.seeder, "", nil, http.StatusOK))
	value := strings.Repeat("x", max(size-envelope, 0))
	for i := range loadObjects {
		must(tg.send(ctx, c, http.MethodPost, tg.objects, tg.seeder, "application/json", configMap(loadObjectName(i), value), http.StatusCreated))
	}
	got := compactSize(t, must(tg.send(ctx, c, http.MethodGet, tg.objects+"/"+loadObjectName(loadObjects-1), tg.token, "", nil, http.StatusOK)))
	t.Logf("one object as compact JSON: ours %d bytes, kube-apiserver %d bytes", size, got)
	checkList(ctx, t, tg, c)
}

// checkList checks that the list holds exactly the seeded objects and
// that the connection speaks HTTP/1.1, and logs the list's size.
func checkList(ctx context.Context, t *testing.T, tg *loadTarget, c *http.Client) {
	t.Helper()
	data, resp, err := tg.send(ctx, c, http.MethodGet, tg.objects, tg.token, "", nil, http.StatusOK)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatalf("%s: list: %v", tg.name, err)
	}
	if list.Kind != tg.listKind || len(list.Items) != loadObjects {
		t.Fatalf("%s: list is a %q of %d items, want a %s of %d", tg.name, list.Kind, len(list.Items), tg.listKind, loadObjects)
	}
	if resp.ProtoMajor != 1 || resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("%s: answered in %s with Content-Encoding %q, want HTTP/1.1 unencoded", tg.name, resp.Proto, resp.Header.Get("Content-Encoding"))
	}
	t.Logf("%s: the list of %d is %d bytes", tg.name, loadObjects, len(data))
}

// describe says what serves tg: its transport, and for kube-apiserver its
// version and etcd's.
func describe(ctx context.Context, t *testing.T, tg *loadTarget) string {
	t.Helper()
	if tg.tls == nil {
		return "own process, bbolt, viewer token, HTTP/1.1"
	}
	c := tg.newClient()
	defer c.CloseIdleConnections()
	data, resp, err := tg.send(ctx, c, http.MethodGet, "/version", tg.token, "", nil, http.StatusOK)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("kube-apiserver /version: %v", err)
	}
	return fmt.Sprintf("kube-apiserver %s on %s, system:masters token, %s + HTTP/1.1",
		v.GitVersion, etcdVersion(), tls.VersionName(resp.TLS.Version))
}

// etcdVersion asks kubetest's etcd binary for its version.
func etcdVersion() string {
	bin := cmp.Or(os.Getenv(kubetest.EnvEtcd), "/usr/bin/etcd")
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "etcd"
	}
	first, _, _ := strings.Cut(string(out), "\n")
	if v, ok := strings.CutPrefix(first, "etcd Version: "); ok {
		return "etcd " + v
	}
	return "etcd"
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func loadJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadEnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

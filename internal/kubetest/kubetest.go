// Package kubetest runs a real Kubernetes API server for tests: Debian's
// etcd and kube-apiserver on loopback, over temporary directories, with a
// generated admin token, stopped when the test (or test binary) is done.
//
// It exists so that the orchestrator's Kubernetes driver is tested against
// the server it will meet in production, with its real validation,
// defaulting, server-side apply, subresources and RBAC, rather than against
// client-go's fake clients, which agree with whatever the driver believes.
// There is no kubelet, scheduler or controller manager: objects are stored
// and served but nothing runs, so Deployments never get ready replicas and
// nothing is garbage collected.
//
// etcd comes from the Debian package etcd-server (/usr/bin/etcd, 3.4);
// kube-apiserver is built by scripts/install-kube.sh into
// .tools/bin/kube-apiserver. $CLOUDSKIN_ETCD and $CLOUDSKIN_KUBE_APISERVER
// override those paths. Without them, tests skip with a message saying how
// to install them.
//
// Start gives a test its own cluster (about 2-3 s to start on a quiet
// machine). A test binary whose tests can share one declares a Shared and
// stops it in TestMain; see Shared.
package kubetest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Environment variables that override where the binaries are.
const (
	EnvEtcd      = "CLOUDSKIN_ETCD"
	EnvAPIServer = "CLOUDSKIN_KUBE_APISERVER"
)

const (
	// defaultEtcd is where Debian's etcd-server package puts etcd.
	defaultEtcd = "/usr/bin/etcd"
	// startTimeout bounds how long etcd and then the API server may take
	// to become ready: 2-3 s on a quiet machine, much longer under a
	// parallel `go test ./...` on two cores.
	startTimeout = 60 * time.Second
	// stopTimeout is how long a process gets to exit after SIGTERM before
	// it is killed.
	stopTimeout = 10 * time.Second
	// logTail is how much of each log a failure message shows.
	logTail = 4 << 10
	// ContextName is the context, cluster and user name in the kubeconfig
	// written for the cluster.
	ContextName = "kubetest"
)

// Cluster is a running etcd and kube-apiserver.
type Cluster struct {
	// Config reaches the API server as a member of system:masters (every
	// permission). Copy it (rest.CopyConfig) before changing it.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file with the same server,
	// token and CA, in a context named ContextName set as current.
	Kubeconfig string

	dir     string // logs, certificates, keys, kubeconfig
	etcdDir string // etcd's data, on tmpfs when there is one
	etcd    *process
	server  *process

	stopOnce sync.Once
}

// Start starts a cluster for the duration of tb, or skips tb if etcd or
// kube-apiserver is not installed. If tb fails, the cleanup logs the tail of
// both servers' logs and keeps their directory.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	bins := findBinaries(tb)
	c, err := start(bins, "")
	if err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	tb.Logf("kubetest: kube-apiserver up at %s", c.Config.Host)
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("kubetest: the test failed; logs kept in %s\n%s", c.dir, c.Logs())
			c.stop(true)
			return
		}
		c.Stop()
	})
	return c
}

// Stop stops the API server, then etcd (SIGTERM, then SIGKILL if a process
// has not exited within a few seconds), and removes the cluster's
// directories. Stopping a stopped cluster does nothing.
func (c *Cluster) Stop() { c.stop(false) }

func (c *Cluster) stop(keepLogs bool) {
	c.stopOnce.Do(func() {
		c.server.stop()
		c.etcd.stop()
		os.RemoveAll(c.etcdDir)
		if !keepLogs {
			os.RemoveAll(c.dir)
		}
	})
}

// Logs returns the end of the API server's and etcd's logs.
func (c *Cluster) Logs() string {
	return "--- kube-apiserver (" + c.server.logPath + "):\n" + tail(c.server.logPath) +
		"\n--- etcd (" + c.etcd.logPath + "):\n" + tail(c.etcd.logPath)
}

// binaries are the programs a cluster runs.
type binaries struct{ etcd, apiserver string }

// start starts etcd and the API server, with their files in a new
// directory under root (the system's temporary directory if empty), and
// waits until the API server is ready. On error, whatever was started is
// stopped, the directory stays for its logs, and the error carries their
// end.
func start(bins binaries, root string) (_ *Cluster, err error) {
	dir, err := os.MkdirTemp(root, "kubetest-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	c := &Cluster{dir: dir, etcdDir: etcdDataDir(dir)}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, c.partialLogs())
			c.stopStarted()
		}
	}()
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	if c.etcd, err = startEtcd(bins.etcd, dir, c.etcdDir, etcdURL, ports[1]); err != nil {
		return nil, err
	}
	if err := waitEtcd(etcdURL, c.etcd.exited); err != nil {
		return nil, fmt.Errorf("etcd at %s: %w", etcdURL, err)
	}
	token, err := randomHex(16)
	if err != nil {
		return nil, err
	}
	files, err := writeAuthFiles(dir, token)
	if err != nil {
		return nil, err
	}
	host := fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	if c.server, err = startAPIServer(bins.apiserver, dir, etcdURL, ports[2], files); err != nil {
		return nil, err
	}
	caData, err := waitReady(host, token, files.certFile, c.server.exited)
	if err != nil {
		return nil, fmt.Errorf("kube-apiserver at %s: %w", host, err)
	}
	c.Config = &rest.Config{
		Host:            host,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: caData},
	}
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(c.Kubeconfig, host, token, caData); err != nil {
		return nil, err
	}
	return c, nil
}

// stopStarted stops what a failed start got running; the directories
// stay for the logs, except etcd's data.
func (c *Cluster) stopStarted() {
	if c.server != nil {
		c.server.stop()
	}
	if c.etcd != nil {
		c.etcd.stop()
	}
	os.RemoveAll(c.etcdDir)
}

func (c *Cluster) partialLogs() string {
	var s string
	for _, p := range []*process{c.server, c.etcd} {
		if p != nil {
			s += "--- " + p.logPath + ":\n" + tail(p.logPath) + "\n"
		}
	}
	return s
}

// etcdDataDir puts etcd's data on /dev/shm when it can: etcd 3.4 fsyncs
// every write and has no flag to stop it, and a test cluster's data is
// thrown away. The directory is named after this process, so that a later
// start can remove what a killed test binary left in memory (about 120 MB:
// etcd preallocates its log).
func etcdDataDir(fallback string) string {
	const shm = "/dev/shm"
	sweepEtcdDirs(shm)
	if d, err := os.MkdirTemp(shm, fmt.Sprintf("kubetest-etcd-%d-", os.Getpid())); err == nil {
		return d
	}
	return filepath.Join(fallback, "etcd")
}

// sweepEtcdDirs removes etcd data directories of processes that are gone.
func sweepEtcdDirs(dir string) {
	entries, _ := filepath.Glob(filepath.Join(dir, "kubetest-etcd-*-*"))
	for _, e := range entries {
		pidText, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(e), "kubetest-etcd-"), "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(e)
		}
	}
}

func startEtcd(bin, dir, dataDir, clientURL string, peerPort int) (*process, error) {
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	return startProcess(bin, filepath.Join(dir, "etcd.log"),
		"--name=kubetest",
		"--data-dir="+dataDir,
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubetest="+peerURL,
		"--logger=zap",
		"--log-outputs=stderr",
		"--log-level=warn",
	)
}

// authFiles are the files the API server authenticates with.
type authFiles struct {
	certDir, certFile string // its serving certificate, self-signed at start
	tokens            string // the static token file with the admin token
	saKey, saPub      string // the service-account signing key pair
}

func writeAuthFiles(dir, token string) (authFiles, error) {
	f := authFiles{
		certDir: filepath.Join(dir, "certs"),
		tokens:  filepath.Join(dir, "tokens.csv"),
		saKey:   filepath.Join(dir, "sa.key"),
		saPub:   filepath.Join(dir, "sa.pub"),
	}
	f.certFile = filepath.Join(f.certDir, "apiserver.crt")
	// token,user,uid,"groups": system:masters may do everything under RBAC.
	line := token + `,kubetest-admin,kubetest-admin,"system:masters"` + "\n"
	if err := os.WriteFile(f.tokens, []byte(line), 0o600); err != nil {
		return f, fmt.Errorf("token file: %w", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return f, fmt.Errorf("service-account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return f, fmt.Errorf("service-account key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	if err := os.WriteFile(f.saKey, keyPEM, 0o600); err != nil {
		return f, fmt.Errorf("service-account key: %w", err)
	}
	if err := os.WriteFile(f.saPub, pubPEM, 0o600); err != nil {
		return f, fmt.Errorf("service-account key: %w", err)
	}
	return f, nil
}

func startAPIServer(bin, dir, etcdURL string, port int, f authFiles) (*process, error) {
	return startProcess(bin, filepath.Join(dir, "kube-apiserver.log"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		// With no certificate given, the server makes a self-signed one
		// for 127.0.0.1 here; clients trust that file.
		"--cert-dir="+f.certDir,
		"--token-auth-file="+f.tokens,
		"--authorization-mode=RBAC",
		"--service-account-key-file="+f.saPub,
		"--service-account-signing-key-file="+f.saKey,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.96.0.0/16",
		// The ServiceAccount admission plugin refuses pods until the
		// controller manager (absent) has made the default account.
		"--disable-admission-plugins=ServiceAccount",
		// Fewer start-up hooks and no request queuing to tune.
		"--enable-priority-and-fairness=false",
		// Nothing to publish as the endpoints of the "kubernetes"
		// Service: the address is loopback, which Endpoints refuse.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	)
}

// waitEtcd polls etcd's health endpoint until it says healthy, the process
// exits, or startTimeout passes.
func waitEtcd(url string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	return poll(exited, func(ctx context.Context) bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/health", nil)
		if err != nil {
			return false
		}
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		// {"health":"true"}, give or take spaces.
		compact := strings.Join(strings.Fields(string(body)), "")
		return resp.StatusCode == http.StatusOK && strings.Contains(compact, `"health":"true"`)
	})
}

// waitReady polls the API server's /readyz with the admin token until it
// answers 200, verifying the server's certificate against the file the
// server writes at start, and returns that file's content.
func waitReady(host, token, certFile string, exited <-chan struct{}) ([]byte, error) {
	var caData []byte
	err := poll(exited, func(ctx context.Context) bool {
		// Re-read each time: the file may not exist yet, or be
		// half-written.
		pemData, err := os.ReadFile(certFile)
		if err != nil {
			return false
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return false
		}
		client := &http.Client{
			Timeout:   2 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		}
		defer client.CloseIdleConnections()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, host+"/readyz", nil)
		if err != nil {
			return false
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false
		}
		caData = pemData
		return true
	})
	return caData, err
}

// poll calls ready every 50 ms until it returns true, the process exits,
// or startTimeout passes.
func poll(exited <-chan struct{}, ready func(context.Context) bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready(ctx) {
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("not ready within %s", startTimeout)
		case <-tick.C:
		}
	}
}

func writeKubeconfig(path, host, token string, caData []byte) error {
	cfg := clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{ContextName: {Server: host, CertificateAuthorityData: caData}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{ContextName: {Token: token}},
		Contexts:       map[string]*clientcmdapi.Context{ContextName: {Cluster: ContextName, AuthInfo: ContextName}},
		CurrentContext: ContextName,
	}
	if err := clientcmd.WriteToFile(cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// process is one server the cluster runs.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	exited  chan struct{} // closed when the process has exited
	once    sync.Once
}

func startProcess(bin, logPath string, args ...string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If the test binary dies without cleaning up (a panic, a -timeout),
	// the servers must not outlive it. Go threads do not exit while the
	// process runs, so "the parent thread died" means the process did.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &process{name: filepath.Base(bin), cmd: cmd, logPath: logPath, logFile: logFile, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// stop sends SIGTERM, and SIGKILL if the process has not exited within
// stopTimeout; it returns once the process has exited.
func (p *process) stop() {
	p.once.Do(func() {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			_ = p.cmd.Process.Kill()
		}
		select {
		case <-p.exited:
		case <-time.After(stopTimeout):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
}

// findBinaries returns etcd and kube-apiserver, or skips tb.
func findBinaries(tb testing.TB) binaries {
	tb.Helper()
	bins, missing, err := locateBinaries()
	if err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	if missing != "" {
		tb.Skipf("kubetest: %s: run `make deps` (scripts/install-kube.sh) to install etcd and kube-apiserver, or set $%s and $%s",
			missing, EnvEtcd, EnvAPIServer)
	}
	return bins
}

// locateBinaries finds the two programs. missing says which is absent; err
// is for an override that points nowhere, which is a mistake, not a reason
// to skip.
func locateBinaries() (bins binaries, missing string, err error) {
	root, err := moduleRoot()
	if err != nil {
		return bins, "", err
	}
	for _, b := range []struct {
		env, fallback string
		dst           *string
	}{
		{EnvEtcd, defaultEtcd, &bins.etcd},
		{EnvAPIServer, filepath.Join(root, ".tools", "bin", "kube-apiserver"), &bins.apiserver},
	} {
		if p := os.Getenv(b.env); p != "" {
			if _, err := os.Stat(p); err != nil {
				return bins, "", fmt.Errorf("$%s=%s: %w", b.env, p, err)
			}
			*b.dst = p
			continue
		}
		if _, err := os.Stat(b.fallback); err != nil {
			return bins, "no " + b.fallback, nil
		}
		*b.dst = b.fallback
	}
	return bins, "", nil
}

// moduleRoot walks up from the working directory to the directory holding
// go.mod; `go test` runs each package in its own directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// freePorts returns n distinct loopback ports nobody listens on right now.
// Another process could take one before the servers do; on a test machine
// that is rare enough, and the server then fails with a clear message.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		// Held open until all are chosen, so no two are the same.
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// tail returns the last logTail bytes of a file.
func tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > logTail {
		_, _ = f.Seek(st.Size()-logTail, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

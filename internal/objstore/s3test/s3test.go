// Package s3test starts a real S3 server for tests: versitygw (Apache-2.0,
// Go) serving a temporary directory on loopback. The binary is built from
// the Go module proxy with `go install` into a cache directory the first
// time it is needed (scripts/test does that before the tests run); a test
// that cannot get it fails saying why, it never skips.
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Version is the versitygw release the tests run against.
const Version = "v1.8.0"

// Module is what `go install` builds.
const Module = "github.com/versity/versitygw/cmd/versitygw"

// Credentials of the test server's root user. They are test-only values
// for a server that listens on loopback and lives as long as one test.
const (
	AccessKey = "clew-test-access"
	SecretKey = "clew-test-secret-key-0123456789"
)

// Server is a running versitygw.
type Server struct {
	Endpoint string // host:port, plain HTTP
	Dir      string // the directory it serves; each bucket is a subdirectory
	client   *minio.Client
}

// BinaryPath is where versitygw is installed: $CLEW_VERSITYGW if set, else
// <user cache dir>/clew/tools/versitygw-<Version>/versitygw.
func BinaryPath() (string, error) {
	if p := os.Getenv("CLEW_VERSITYGW"); p != "" {
		return p, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "clew", "tools", "versitygw-"+Version, "versitygw"), nil
}

// Install makes sure the binary exists, building it with `go install` if
// not. Concurrent test processes serialise on a lock file beside it.
func Install() (string, error) {
	bin, err := BinaryPath()
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if os.Getenv("CLEW_VERSITYGW") != "" {
		return "", fmt.Errorf("CLEW_VERSITYGW=%s does not exist", bin)
	}
	dir := filepath.Dir(bin)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // another process installed it while we waited
	}
	cmd := exec.Command("go", "install", Module+"@"+Version)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod")
	cmd.Dir = dir // outside any module, so the install uses its own go.mod
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go install %s@%s (needs the Go module proxy): %w\n%s", Module, Version, err, out.String())
	}
	return bin, nil
}

// Start runs a versitygw for the test's lifetime. It fails the test if the
// server cannot be installed or started.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Install()
	if err != nil {
		t.Fatalf("s3test: versitygw is needed for the S3 tests and could not be installed: %v", err)
	}
	dir := t.TempDir()
	var lastErr error
	for range 3 { // a free port can be taken between probing and binding
		s, err := start(t, bin, dir)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("s3test: start versitygw: %v", lastErr)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start(t testing.TB, bin, dir string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	endpoint := "127.0.0.1:" + strconv.Itoa(port)
	log := &syncWriter{w: &bytes.Buffer{}}
	cmd := exec.Command(bin, "--port", endpoint, "posix", dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+AccessKey, "ROOT_SECRET_KEY="+SecretKey)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	client, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(AccessKey, SecretKey, "")})
	if err != nil {
		stop()
		return nil, err
	}
	// Poll until it answers; the deadline only catches a server that hangs.
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			stop()
			return nil, fmt.Errorf("versitygw exited: %v\n%s", err, log.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := client.ListBuckets(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("versitygw did not answer within 60s: %v\n%s", err, log.String())
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	t.Cleanup(stop)
	return &Server{Endpoint: endpoint, Dir: dir, client: client}, nil
}

// Bucket creates a bucket and returns its name. Names are unique within
// the server.
func (s *Server) Bucket(t testing.TB, name string) string {
	t.Helper()
	if err := s.client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("s3test: create bucket %s: %v", name, err)
	}
	return name
}

// SetCredentials points the standard AWS environment variables at the
// server's root user for the test's lifetime, the way a deployment passes
// credentials to Clew.
func SetCredentials(t testing.TB) {
	t.Setenv("AWS_ACCESS_KEY_ID", AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

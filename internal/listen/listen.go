// Package listen opens Clew's TCP listeners and HTTP servers with the
// connection hygiene every listener shares, so no port holds connections
// forever or accepts without bound: a header deadline, a whole-request read
// deadline, a write deadline, an idle timeout for kept-alive connections, and
// a cap on open connections per listener. The gRPC server takes the matching
// keepalive settings from GRPCOptions.
package listen

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Limits are the per-listener connection bounds.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's headers, and so also how
	// long a new connection may stay silent.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds handling a request and writing its answer.
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection with no request for this
	// long (gRPC: a connection without streams).
	IdleTimeout time.Duration
	// MaxConnections caps the open connections of one listener; further
	// clients wait in the kernel's accept queue until one closes.
	MaxConnections int
}

// DefaultLimits are what every Clew listener runs with (docs/security.md).
func DefaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      3 * time.Minute, // a query may take its 30 s and a large answer a while to send
		IdleTimeout:       time.Minute,
		MaxConnections:    1000,
	}
}

// TCP listens on addr with at most lim.MaxConnections connections open.
func TCP(ctx context.Context, addr string, lim Limits) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if lim.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, lim.MaxConnections)
	}
	return ln, nil
}

// HTTPServer returns a server for h with lim's timeouts; logger (may be nil)
// receives net/http's own error lines at WARN.
func HTTPServer(h http.Handler, lim Limits, logger *slog.Logger) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
	}
	if logger != nil {
		srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	}
	return srv
}

// GRPCOptions are the server options that give gRPC the same hygiene: the
// handshake must finish within ReadHeaderTimeout, a connection without
// streams is closed after IdleTimeout, dead peers are found by keepalive
// pings, and clients that ping more often than every 10 s are disconnected
// (the OTel SDKs do not ping by default).
func GRPCOptions(lim Limits) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ConnectionTimeout(lim.ReadHeaderTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: lim.IdleTimeout,
			Time:              2 * time.Minute,
			Timeout:           20 * time.Second,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             10 * time.Second,
			PermitWithoutStream: true,
		}),
		grpc.MaxConcurrentStreams(100),
	}
}

package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/clewtrace/clew/internal/listen"
)

// server is an HTTP listener with a name for logs.
type server struct {
	name string
	want string
	srv  *http.Server
	ln   net.Listener
	log  *slog.Logger
}

func newServer(name, addr string, h http.Handler, logger *slog.Logger) *server {
	return &server{
		name: name,
		want: addr,
		srv:  listen.HTTPServer(h, listen.DefaultLimits(), logger),
		log:  logger,
	}
}

func (s *server) start() error {
	if s.want == "" {
		return nil
	}
	ln, err := listen.TCP(context.Background(), s.want, listen.DefaultLimits())
	if err != nil {
		return fmt.Errorf("%s: listen %s: %w", s.name, s.want, err)
	}
	s.ln = ln
	s.log.Info("listening", "server", s.name, "addr", ln.Addr().String())
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("server stopped", "server", s.name, "err", err)
		}
	}()
	return nil
}

func (s *server) addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

func (s *server) stop(ctx context.Context) error {
	if s.ln == nil {
		return nil
	}
	return s.srv.Shutdown(ctx)
}

// warnExposed logs once, at start, which listeners other hosts can reach
// without a token, so an operator sees it without reading docs/security.md.
func (a *App) warnExposed() {
	ad := a.Addrs()
	ingest, query := a.cfg.IngestToken != "", a.cfg.QueryToken != ""
	var open []string
	for _, l := range []struct {
		name, addr string
		guarded    bool
	}{
		{"otlp-grpc", ad.OTLPGRPC, ingest}, {"otlp-http", ad.OTLPHTTP, ingest},
		{"jaeger-http", ad.JaegerHTTP, ingest}, {"zipkin", ad.Zipkin, ingest},
		{"jaeger-compact(udp)", ad.JaegerCompact, false}, {"jaeger-binary(udp)", ad.JaegerBinary, false},
		{"query", ad.Query, query}, {"tempo", ad.Tempo, query}, {"admin(/metrics)", ad.Admin, false},
	} {
		if l.addr != "" && !l.guarded && !isLoopback(l.addr) {
			open = append(open, l.name+"="+l.addr)
		}
	}
	if len(open) > 0 {
		a.log.Warn("listeners reachable from other hosts without a token (set --ingest-token/--query-token or bind to 127.0.0.1; see docs/security.md)",
			"listeners", strings.Join(open, " "))
	}
}

// isLoopback reports whether a bound address accepts only local connections.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

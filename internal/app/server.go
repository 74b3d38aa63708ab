package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
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
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute},
		log:  logger,
	}
}

func (s *server) start() error {
	if s.want == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.want)
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

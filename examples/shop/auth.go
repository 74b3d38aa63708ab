package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/clewtrace/clew/kit/kitjwt"
)

const (
	tokenAudience = "clew-shop"
	tokenIssuer   = "clew-shop-auth"
	tokenTTL      = 8 * time.Hour
)

var validUsername = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)

// errTokenStore is the auth service's simulated outage.
var errTokenStore = errors.New("token store unavailable")

// authService issues HS256 tokens at login and checks them for the gateway.
// Checks fail with probability failureRate (or always with demo.fail=auth).
type authService struct {
	tel         *telemetry
	secret      []byte
	verifier    *kitjwt.Verifier
	failureRate float64
}

func (s *authService) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", s.login)
	// kitjwt verifies the token and puts the user on auth's span too.
	mux.Handle("POST /check", s.verifier.Middleware(http.HandlerFunc(s.check)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	return s.tel.middleware()(mux)
}

type loginRequest struct {
	Username string `json:"username"`
}

type loginResponse struct {
	Token     string    `json:"token"`
	User      string    `json:"user"`
	SessionID string    `json:"session_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *authService) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decodeBody(r, &req); err != nil {
		fail(w, r, s.tel.log, http.StatusBadRequest, err)
		return
	}
	if !validUsername.MatchString(req.Username) {
		fail(w, r, s.tel.log, http.StatusBadRequest, errors.New("username must be 1-32 lowercase letters, digits, '.', '_' or '-'"))
		return
	}
	sid, err := newSessionID()
	if err != nil {
		fail(w, r, s.tel.log, http.StatusInternalServerError, err)
		return
	}
	roles := []string{"customer"}
	if req.Username == "admin" {
		roles = append(roles, "admin")
	}
	now := time.Now()
	exp := now.Add(tokenTTL)
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub":   req.Username,
		"aud":   tokenAudience,
		"iss":   tokenIssuer,
		"iat":   now.Unix(),
		"exp":   exp.Unix(),
		"sid":   sid,
		"roles": roles,
	})
	signed, err := tok.SignedString(s.secret)
	if err != nil {
		fail(w, r, s.tel.log, http.StatusInternalServerError, fmt.Errorf("signing token: %w", err))
		return
	}
	trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("enduser.id", req.Username), attribute.String("session.id", sid))
	s.tel.log.InfoContext(r.Context(), "token issued", "user", req.Username, "session", sid)
	writeJSON(w, http.StatusOK, loginResponse{Token: signed, User: req.Username, SessionID: sid, ExpiresAt: exp})
}

type checkResponse struct {
	User  string   `json:"user"`
	Roles []string `json:"roles"`
}

func (s *authService) check(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, _ := kitjwt.IdentityFromContext(ctx)
	if shouldFail(ctx, "auth", s.failureRate) {
		fail(w, r, s.tel.log, http.StatusServiceUnavailable, errTokenStore)
		return
	}
	s.tel.log.DebugContext(ctx, "token valid", "user", id.UserID)
	writeJSON(w, http.StatusOK, checkResponse{User: id.UserID, Roles: id.Roles})
}

func newSessionID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("session id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

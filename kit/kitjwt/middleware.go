package kitjwt

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// FailureEvent is the span event added when a request is rejected; its only
// attribute is "reason".
const FailureEvent = "jwt-verification-failed"

// SessionBaggageKey is the baggage member carrying the session ID downstream;
// kit.BaggageSpanProcessor copies it onto spans there.
const SessionBaggageKey = "session.id"

type identityKey struct{}

// ContextWithIdentity returns ctx carrying id (Middleware does this; tests of
// handlers can too).
func ContextWithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFromContext returns the identity Middleware verified.
func IdentityFromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(*Identity)
	return id, ok && id != nil
}

// Middleware rejects requests without a valid bearer token with 401 and a
// JSON body {"error": "..."}; on success it annotates the active span, adds
// the session ID to baggage and the Identity to the request context.
//
// Place it inside kithttp.Middleware so the server span exists.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		span := trace.SpanFromContext(ctx)
		token, ok := bearerToken(r.Header.Get("Authorization"))
		var id *Identity
		err := error(&VerificationError{Reason: ReasonMissingToken})
		if ok {
			id, err = v.Verify(ctx, token)
		}
		if err != nil {
			v.reject(ctx, w, span, err)
			return
		}

		attrs := []attribute.KeyValue{semconv.EnduserID(id.UserID), semconv.UserID(id.UserID)}
		if len(id.Roles) > 0 {
			attrs = append(attrs, semconv.UserRoles(id.Roles...))
		}
		if id.SessionID != "" {
			attrs = append(attrs, semconv.SessionID(id.SessionID))
			ctx = v.withSessionBaggage(ctx, id.SessionID)
		}
		span.SetAttributes(attrs...)

		r2 := r.WithContext(ContextWithIdentity(ctx, id))
		next.ServeHTTP(w, r2)
		// Hand ServeMux's matched pattern back to outer middlewares
		// (kithttp names the span after it).
		if r.Pattern == "" {
			r.Pattern = r2.Pattern
		}
	})
}

func (v *Verifier) withSessionBaggage(ctx context.Context, sessionID string) context.Context {
	m, err := baggage.NewMemberRaw(SessionBaggageKey, sessionID)
	if err == nil {
		var b baggage.Baggage
		if b, err = baggage.FromContext(ctx).SetMember(m); err == nil {
			return baggage.ContextWithBaggage(ctx, b)
		}
	}
	v.logger.WarnContext(ctx, "kitjwt: session ID not added to baggage", slog.Any("error", err))
	return ctx
}

// message is the client-facing text; deliberately vague about signatures
// and keys.
func message(reason string) string {
	switch reason {
	case ReasonMissingToken:
		return "missing bearer token"
	case ReasonExpired:
		return "token expired"
	case ReasonNotYetValid:
		return "token not yet valid"
	case ReasonInvalidAudience:
		return "token not intended for this service"
	case ReasonKeysUnavailable:
		return "cannot verify token now"
	}
	return "invalid token"
}

func (v *Verifier) reject(ctx context.Context, w http.ResponseWriter, span trace.Span, err error) {
	reason := ReasonInvalidClaims
	var ve *VerificationError
	if errors.As(err, &ve) {
		reason = ve.Reason
	}
	// Only the reason: the token, and errors that might quote it, stay out
	// of spans and logs.
	span.AddEvent(FailureEvent, trace.WithAttributes(attribute.String("reason", reason)))
	v.logger.InfoContext(ctx, "kitjwt: request rejected", slog.String("reason", reason))

	msg := message(reason)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if reason == ReasonMissingToken {
		h.Set("WWW-Authenticate", "Bearer")
	} else {
		h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// bearerToken extracts the token; the scheme is case-insensitive (RFC 7235).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

package recovery

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// failJSON is an API's error writer, as the packages using Wrap pass it.
func failJSON(w http.ResponseWriter, _ *http.Request, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `{"error":"`+err.Error()+`"}`)
}

func get(t *testing.T, h http.Handler) (*http.Response, string, error) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL + "/x")
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// TestPanicBeforeResponse: the client gets a 500 in the API's shape, without
// the panic's text.
func TestPanicBeforeResponse(t *testing.T) {
	h := Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret /home/clew/store.go:42")
	}), nil, failJSON)
	resp, body, err := get(t, h)
	if err != nil {
		t.Fatalf("GET: %v (connection dropped instead of a 500?)", err)
	}
	if resp.StatusCode != http.StatusInternalServerError || body != `{"error":"internal error"}` {
		t.Errorf("got %d %q, want 500 {\"error\":\"internal error\"}", resp.StatusCode, body)
	}
	if strings.Contains(body, "secret") {
		t.Errorf("panic text reached the client: %q", body)
	}
}

// TestPanicAfterResponseStarted: once a status was written, no second
// response is written; the connection is dropped so the client sees a broken
// answer, not a 200 followed by an error body.
func TestPanicAfterResponseStarted(t *testing.T) {
	for name, start := range map[string]func(http.ResponseWriter){
		"status": func(w http.ResponseWriter) { w.WriteHeader(http.StatusOK) },
		"body":   func(w http.ResponseWriter) { _, _ = io.WriteString(w, `{"data":[`) },
		"flush": func(w http.ResponseWriter) {
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("Flush through the guard: %v", err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			failed := false
			h := Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				start(w)
				panic("late")
			}), nil, func(w http.ResponseWriter, r *http.Request, status int, err error) {
				failed = true
				failJSON(w, r, status, err)
			})
			resp, body, err := get(t, h)
			if failed {
				t.Error("the error writer ran after the response had started")
			}
			if err == nil {
				t.Errorf("got a complete answer %d %q; want the connection dropped", resp.StatusCode, body)
			}
		})
	}
}

// TestPanicDirectly: with no server around it (httptest.NewRecorder), a late
// panic is re-raised as http.ErrAbortHandler and the recorded answer holds
// only what the handler wrote.
func TestPanicDirectly(t *testing.T) {
	h := Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		panic(errors.New("late"))
	}), nil, failJSON)
	rec := httptest.NewRecorder()
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler { //nolint:errorlint
				t.Errorf("re-panicked with %v, want http.ErrAbortHandler", p)
			}
		}()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	}()
	if rec.Code != http.StatusAccepted || rec.Body.Len() != 0 {
		t.Errorf("recorded %d %q, want only the handler's 202", rec.Code, rec.Body.String())
	}

	// http.ErrAbortHandler passes through untouched.
	abort := Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }), nil, failJSON)
	rec = httptest.NewRecorder()
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler { //nolint:errorlint
				t.Errorf("ErrAbortHandler came out as %v", p)
			}
		}()
		abort.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	}()
	if rec.Body.Len() != 0 {
		t.Errorf("an aborted request got a body: %q", rec.Body.String())
	}
}

// TestNoPanic: answers pass through unchanged.
func TestNoPanic(t *testing.T) {
	h := Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "ok")
	}), nil, failJSON)
	resp, body, err := get(t, h)
	if err != nil || resp.StatusCode != http.StatusTeapot || body != "ok" {
		t.Errorf("got %v %q %v", resp, body, err)
	}
}

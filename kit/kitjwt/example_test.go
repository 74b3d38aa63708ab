package kitjwt_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/clewtrace/clew/kit/kitjwt"
)

func ExampleVerifier_Middleware() {
	secret := []byte("an-example-secret-of-at-least-32-bytes")
	v, err := kitjwt.NewVerifier(context.Background(), kitjwt.Config{
		HMACSecret: secret,
		Audience:   "orders",
		RolesClaim: "roles",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	handler := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := kitjwt.IdentityFromContext(r.Context())
		fmt.Println("user", id.UserID, "roles", strings.Join(id.Roles, ","), "session", id.SessionID)
	}))

	token, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "aud": "orders", "exp": time.Now().Add(time.Hour).Unix(),
		"roles": []string{"admin"}, "sid": "s-1",
	}).SignedString(secret)

	req := httptest.NewRequest("GET", "/orders/1", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	handler.ServeHTTP(httptest.NewRecorder(), req)

	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("GET", "/orders/1", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// user alice roles admin session s-1
	// 401 {"error":"missing bearer token"}
}

package errgroups

import "testing"

func TestNormalizeMessage(t *testing.T) {
	tests := []struct{ in, want string }{
		{"order 1234 not found", "order <n> not found"},
		{"user 550e8400-e29b-41d4-a716-446655440000 has no cart", "user <uuid> has no cart"},
		{"cannot mail bob@example.com: mailbox full", "cannot mail <email>: mailbox full"},
		{`unknown product "blue-mug"`, "unknown product <str>"},
		{"unknown product 'red-mug'", "unknown product <str>"},
		{"bad pointer 0x7ffd3a2c", "bad pointer <hex>"},
		{"trace 4bf92f3577b34da6a3ce929d0e0e4736 lost", "trace <hex> lost"},
		{"request req_8fK2mQ91zX failed", "request <id> failed"},
		{"timeout after 2.5s", "timeout after <n>s"},
		{"partner did not answer within 3007ms", "partner did not answer within <n>ms"},
		{"dial tcp 10.0.3.7:5432: connection refused", "dial tcp <ip>:<n>: connection refused"},
		{"  spaced\n\tout  ", "spaced out"},
		{"partner returned 503 Service Unavailable", "partner returned <n> Service Unavailable"},
	}
	for _, tc := range tests {
		if got := NormalizeMessage(tc.in); got != tc.want {
			t.Errorf("NormalizeMessage(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFingerprintGroupsSameBug(t *testing.T) {
	base := Occurrence{Type: "*errors.errorString", Message: "order 17 for alice@example.com: payment 9f2c1d3e-1111-4222-8333-444455556666 declined", Service: "orders", Operation: "POST /orders"}
	same := base
	same.Message = "order 90210 for bob@example.org: payment 0a1b2c3d-aaaa-4bbb-8ccc-ddddeeeeffff declined"
	if Fingerprint(base) != Fingerprint(same) {
		t.Errorf("same bug with different IDs gives different fingerprints: %q vs %q", NormalizeMessage(base.Message), NormalizeMessage(same.Message))
	}
	differs := map[string]Occurrence{}
	o := base
	o.Type = "*net.OpError"
	differs["type"] = o
	o = base
	o.Service = "gateway"
	differs["service"] = o
	o = base
	o.Operation = "GET /orders/{id}"
	differs["operation"] = o
	o = base
	o.Message = "order 17: card expired"
	differs["message"] = o
	o = base
	o.Stacktrace = "goroutine 1 [running]:\nmain.charge(0x1)\n\t/src/shop/orders.go:12 +0x1d\n"
	differs["frame"] = o
	for what, d := range differs {
		if Fingerprint(d) == Fingerprint(base) {
			t.Errorf("a different %s gives the same fingerprint", what)
		}
	}
	// The line number in the frame does not matter.
	a, b := base, base
	a.Stacktrace = "goroutine 1 [running]:\nmain.charge(0x1)\n\t/src/shop/orders.go:12 +0x1d\n"
	b.Stacktrace = "goroutine 7 [running]:\nmain.charge(0xc000)\n\t/src/shop/orders.go:40 +0x2f\n"
	if Fingerprint(a) != Fingerprint(b) {
		t.Error("a moved line changes the fingerprint")
	}
}

func TestTopInAppFrame(t *testing.T) {
	tests := []struct{ name, stack, want string }{
		{"go", "goroutine 5 [running]:\nruntime/debug.Stack()\n\t/usr/local/go/src/runtime/debug/stack.go:26 +0x5e\nnet/http.(*conn).serve(0xc0001)\n\t/usr/local/go/src/net/http/server.go:2092 +0x1\ngithub.com/acme/shop/orders.(*Service).Place(0xc000, {0x1})\n\t/src/orders/service.go:88 +0x3b\nmain.main()\n\t/src/main.go:10 +0x1\n", "github.com/acme/shop/orders.(*Service).Place"},
		{"go main", "goroutine 1 [running]:\nruntime.gopanic({0x1})\n\t/usr/local/go/src/runtime/panic.go:770 +0x132\nmain.handler(...)\n\t/src/main.go:10\n", "main.handler"},
		{"java", "java.lang.IllegalStateException: boom\n\tat java.base/java.util.Objects.requireNonNull(Objects.java:233)\n\tat com.acme.shop.Cart.checkout(Cart.java:42)\n\tat com.acme.shop.Api.post(Api.java:10)\n", "com.acme.shop.Cart.checkout"},
		{"js", "TypeError: x is undefined\n    at render (node_modules/react-dom/cjs/react-dom.js:100:5)\n    at Cart.total (http://localhost:8080/app.js:55:12)\n    at onClick (http://localhost:8080/app.js:80:3)\n", "Cart.total"},
		{"js anonymous", "Error: boom\n    at http://localhost:8080/app.js:55:12\n", "http://localhost:8080/app.js"},
		{"python", "Traceback (most recent call last):\n  File \"/usr/lib/python3.12/site-packages/flask/app.py\", line 1, in wsgi_app\n  File \"/srv/shop/views.py\", line 20, in checkout\n  File \"/srv/shop/cart.py\", line 7, in total\n  File \"/usr/lib/python3.12/json/__init__.py\", line 3, in dumps\nValueError: bad\n", "total"},
		{"none", "just a message", ""},
	}
	for _, tc := range tests {
		if got := TopInAppFrame(tc.stack); got != tc.want {
			t.Errorf("%s: TopInAppFrame = %q, want %q", tc.name, got, tc.want)
		}
	}
}

package predicate

import (
	"fmt"
	"testing"

	"github.com/clewtrace/clew/internal/model"
)

func TestCompileRefusesTooManyAttributes(t *testing.T) {
	attrs := map[string]string{}
	for i := range MaxAttributes + 1 {
		attrs[fmt.Sprint("k", i)] = "v"
	}
	if _, err := Compile(Predicate{Kind: -1, Attributes: attrs}); err == nil {
		t.Fatal("compiled 65 attribute conditions")
	}
	delete(attrs, "k0")
	if _, err := Compile(Predicate{Kind: -1, Attributes: attrs}); err != nil {
		t.Fatal(err)
	}
}

func TestCompileRefusesBadCompares(t *testing.T) {
	for _, c := range []Compare{
		{Key: "k", Op: "<>", Value: "1"},
		{Key: "k", Op: "<", Value: "x", Numeric: true},
		{Key: "k", Op: "=~", Value: "("},
		{Key: "k", Op: "=~", Value: "1", Numeric: true},
	} {
		if _, err := Compile(Predicate{Kind: -1, Compares: []Compare{c}}); err == nil {
			t.Errorf("%+v compiled", c)
		}
	}
}

func TestErrorStatusIsTheStatusOnly(t *testing.T) {
	span := model.Span{Attributes: []model.Attribute{{Key: "error", Value: model.BoolValue(true)}}}
	if MustCompile(Predicate{Kind: -1, ErrorStatus: true}).Match(&span) {
		t.Fatal("an error=true attribute satisfied ErrorStatus")
	}
	if !MustCompile(Predicate{Kind: -1, Attributes: map[string]string{"error": "true"}}).Match(&span) {
		t.Fatal(`the "error"="true" condition lost its attribute`)
	}
}

func TestMatch(t *testing.T) {
	res := &model.Resource{ServiceName: "web", Attributes: []model.Attribute{{Key: "region", Value: model.StringValue("eu")}}}
	span := model.Span{
		Resource: res, Name: "GET", Kind: model.KindServer, StartUnixNano: 1000, EndUnixNano: 900, // ends before it starts
		StatusCode: model.StatusError,
		Attributes: []model.Attribute{
			{Key: "user", Value: model.StringValue("a")},
			{Key: "user", Value: model.StringValue("b")}, // a repeated key: either value matches
			{Key: "code", Value: model.IntValue(500)},
		},
		Events: []model.Event{{Attributes: []model.Attribute{{Key: "exception.type", Value: model.StringValue("E")}}}},
		Scope: &model.Scope{Name: "otelhttp", Version: "0.60.0",
			Attributes: []model.Attribute{{Key: "library.mode", Value: model.StringValue("auto")}}},
		Links: []model.Link{
			{Attributes: []model.Attribute{{Key: "opentracing.ref_type", Value: model.StringValue("follows_from")}}},
			{Attributes: []model.Attribute{{Key: "link.weight", Value: model.DoubleValue(0.5)}}},
		},
	}
	tests := []struct {
		p    Predicate
		want bool
	}{
		{Predicate{Kind: -1}, true},
		{Predicate{Kind: -1, Service: "web", Operation: "GET"}, true},
		{Predicate{Kind: -1, Service: "db"}, false},
		{Predicate{Kind: int(model.KindClient)}, false},
		{Predicate{Kind: -1, MaxDuration: 1}, true}, // negative duration counts as 0
		{Predicate{Kind: -1, MinDuration: 1}, false},
		{Predicate{Kind: -1, MinDuration: 5, MaxDuration: 4}, false},
		{Predicate{Kind: -1, StartMin: 1001}, false},
		{Predicate{Kind: -1, StartMax: 1000}, true},
		{Predicate{Kind: -1, ErrorStatus: true}, true},
		{Predicate{Kind: -1, Attributes: map[string]string{"user": "a"}}, true},
		{Predicate{Kind: -1, Attributes: map[string]string{"user": "b"}}, true},
		{Predicate{Kind: -1, Attributes: map[string]string{"user": "c"}}, false},
		{Predicate{Kind: -1, Attributes: map[string]string{"code": "500", "region": "eu", "error": "true", "exception.type": "E"}}, true},
		{Predicate{Kind: -1, Attributes: map[string]string{"code": "500", "region": "us"}}, false},
		// Scope attributes, name and version; link attributes (any link).
		{Predicate{Kind: -1, Attributes: map[string]string{"library.mode": "auto"}}, true},
		{Predicate{Kind: -1, Attributes: map[string]string{"library.mode": "manual"}}, false},
		{Predicate{Kind: -1, Attributes: map[string]string{"otel.scope.name": "otelhttp", "otel.scope.version": "0.60.0"}}, true},
		{Predicate{Kind: -1, Attributes: map[string]string{"otel.scope.name": "otelgrpc"}}, false},
		{Predicate{Kind: -1, Attributes: map[string]string{"opentracing.ref_type": "follows_from", "link.weight": "0.5"}}, true},
		{Predicate{Kind: -1, Attributes: map[string]string{"link.weight": "0.25"}}, false},
		// Every place at once, one condition each.
		{Predicate{Kind: -1, Attributes: map[string]string{"user": "a", "region": "eu", "library.mode": "auto", "exception.type": "E", "link.weight": "0.5"}}, true},
		// Comparisons: numbers compare as numbers, on span, resource and event attributes.
		{Predicate{Kind: -1, Compares: []Compare{{Key: "code", Op: ">=", Value: "500", Numeric: true}}}, true},
		{Predicate{Kind: -1, Compares: []Compare{{Key: "code", Op: ">", Value: "500", Numeric: true}}}, false},
		{Predicate{Kind: -1, Compares: []Compare{{Key: "code", Op: "<", Value: "500.5", Numeric: true}}}, true},
		{Predicate{Kind: -1, Compares: []Compare{{Key: "code", Op: ">=", Value: "500", Numeric: true}, {Key: "code", Op: "<", Value: "600", Numeric: true}}}, true},
		{Predicate{Kind: -1, Compares: []Compare{{Key: "code", Op: "<", Value: "60", Numeric: true}}}, false}, // "500" < "60" as text, not as numbers
		{Predicate{Kind: -1, Compares: []Compare{{Key: "user", Op: ">", Value: "1", Numeric: true}}}, false},  // not numbers
		{Predicate{Kind: -1, Compares: []Compare{{Key: "user", Op: "!=", Value: "1", Numeric: true}}}, true},  // ... which != alone admits
		{Predicate{Kind: -1, Compares: []Compare{{Key: "user", Op: "!=", Value: "a"}}}, true},                 // the other user
		{Predicate{Kind: -1, Compares: []Compare{{Key: "user", Op: ">", Value: "b"}}}, false},
		{Predicate{Kind: -1, Compares: []Compare{{Key: "user", Op: "=~", Value: "[ab]"}}}, true},
		{Predicate{Kind: -1, Compares: []Compare{{Key: "user", Op: "=~", Value: "a|c"}, {Key: "user", Op: "!~", Value: "a"}}}, true}, // by different values of the key
		{Predicate{Kind: -1, Compares: []Compare{{Key: "user", Op: "=~", Value: "."}}}, true},
		{Predicate{Kind: -1, Compares: []Compare{{Key: "user", Op: "=~", Value: "a."}}}, false}, // anchored
		{Predicate{Kind: -1, Compares: []Compare{{Key: "region", Op: "=~", Value: "e."}}}, true},
		{Predicate{Kind: -1, Compares: []Compare{{Key: "exception.type", Op: "!=", Value: "F"}}}, true},
		{Predicate{Kind: -1, Compares: []Compare{{Key: "missing", Op: "!=", Value: "F"}}}, false}, // a key nobody has matches nothing
	}
	for _, tc := range tests {
		if got := MustCompile(tc.p).Match(&span); got != tc.want {
			t.Errorf("%+v: got %v, want %v", tc.p, got, tc.want)
		}
	}
}

// Jaeger's storage integration queries "Scope Attributes" and "Link
// Attributes" (fixtures scope_attributes_trace and link_attributes_trace):
// four typed values, all held by the scope or by one link of the span, and
// none by the span itself. The query values are the text the API makes of
// the JSON tags {"…1":"sameplacevalue","…2":123,"…3":72.5,"…4":true}.
func TestMatchJaegerScopeAndLinkAttributes(t *testing.T) {
	typed := []model.Attribute{
		{Key: "sameplaceattribute1", Value: model.StringValue("sameplacevalue")},
		{Key: "sameplaceattribute2", Value: model.IntValue(123)},
		{Key: "sameplaceattribute4", Value: model.BoolValue(true)},
		{Key: "sameplaceattribute3", Value: model.DoubleValue(72.5)},
		{Key: "blob", Value: model.Value{Type: model.ValueBytes, Str: "\x00\x0009"}},
	}
	query := Predicate{Kind: -1, Service: "query24-service", Attributes: map[string]string{
		"sameplaceattribute1": "sameplacevalue", "sameplaceattribute2": "123", "sameplaceattribute3": "72.5", "sameplaceattribute4": "true",
	}}
	spanAttrs := []model.Attribute{
		{Key: "sameplacetag1", Value: model.StringValue("sameplacevalue")},
		{Key: "sameplacetag2", Value: model.IntValue(123)},
	}
	scoped := model.Span{
		Resource:   &model.Resource{ServiceName: "query24-service"},
		Scope:      &model.Scope{Name: "testing-library", Version: "1.1.1", Attributes: typed},
		Attributes: spanAttrs,
	}
	if !MustCompile(query).Match(&scoped) {
		t.Error("scope attributes: no match")
	}
	query.Service = "query25-service"
	linked := model.Span{
		Resource:   &model.Resource{ServiceName: "query25-service"},
		Scope:      &model.Scope{},
		Attributes: spanAttrs,
		Links: []model.Link{
			{Attributes: append([]model.Attribute{{Key: "opentracing.ref_type", Value: model.StringValue("child_of")}}, typed...)},
			{Attributes: []model.Attribute{{Key: "opentracing.ref_type", Value: model.StringValue("follows_from")}}},
		},
	}
	if !MustCompile(query).Match(&linked) {
		t.Error("link attributes: no match")
	}
	// One value off: no match, wherever the others are.
	query.Attributes["sameplaceattribute3"] = "72.6"
	if MustCompile(query).Match(&linked) {
		t.Error("link attributes: matched a wrong value")
	}
	query.Service = "query24-service"
	if MustCompile(query).Match(&scoped) {
		t.Error("scope attributes: matched a wrong value")
	}
}

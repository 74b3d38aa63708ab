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
		{Predicate{Kind: -1, Attributes: map[string]string{"user": "a"}}, true},
		{Predicate{Kind: -1, Attributes: map[string]string{"user": "b"}}, true},
		{Predicate{Kind: -1, Attributes: map[string]string{"user": "c"}}, false},
		{Predicate{Kind: -1, Attributes: map[string]string{"code": "500", "region": "eu", "error": "true", "exception.type": "E"}}, true},
		{Predicate{Kind: -1, Attributes: map[string]string{"code": "500", "region": "us"}}, false},
	}
	for _, tc := range tests {
		if got := MustCompile(tc.p).Match(&span); got != tc.want {
			t.Errorf("%+v: got %v, want %v", tc.p, got, tc.want)
		}
	}
}

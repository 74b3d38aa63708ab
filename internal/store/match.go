package store

import (
	"github.com/clewtrace/clew/internal/model"
	"github.com/clewtrace/clew/internal/store/block"
)

// matchSpan reports whether one span satisfies every condition of p.
func matchSpan(p *block.Predicate, s *model.Span) bool {
	if p.StartMin != 0 && s.StartUnixNano < p.StartMin || p.StartMax != 0 && s.StartUnixNano > p.StartMax {
		return false
	}
	if p.Service != "" && s.Service() != p.Service {
		return false
	}
	if p.Operation != "" && s.Name != p.Operation {
		return false
	}
	if p.Kind >= 0 && int(s.Kind) != p.Kind {
		return false
	}
	d := s.EndUnixNano - s.StartUnixNano
	if p.MinDuration != 0 && d < p.MinDuration || p.MaxDuration != 0 && d > p.MaxDuration {
		return false
	}
	for k, v := range p.Attributes {
		if !spanHasAttr(s, k, v) {
			return false
		}
	}
	return true
}

// spanHasAttr looks for key=value among the span's, its resource's and its
// events' attributes; error=true also matches an ERROR status.
func spanHasAttr(s *model.Span, key, value string) bool {
	if key == "error" && value == "true" && s.StatusCode == model.StatusError {
		return true
	}
	if attrEquals(s.Attributes, key, value) {
		return true
	}
	if s.Resource != nil && attrEquals(s.Resource.Attributes, key, value) {
		return true
	}
	for i := range s.Events {
		if attrEquals(s.Events[i].Attributes, key, value) {
			return true
		}
	}
	return false
}

func attrEquals(attrs []model.Attribute, key, value string) bool {
	for i := range attrs {
		if attrs[i].Key == key {
			return attrs[i].Value.String() == value
		}
	}
	return false
}

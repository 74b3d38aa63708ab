// Package analysis derives facts about one trace that no single span states:
// the critical path (the chain of spans that set the end-to-end duration),
// uninstrumented gaps (time inside a span that no child accounts for) and each
// span's self time. It is pure computation over []model.Span: no I/O, no
// clocks, and it never modifies the spans it is given. Broken traces (missing
// parents, children outside their parent because of clock skew or async work,
// parent cycles, duplicate IDs) are analysed as well as they can be, never
// rejected.
package analysis

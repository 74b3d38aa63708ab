// Package sampling is the tail-based sampling stage, off by default. It holds
// each trace's spans in memory until decision_wait has passed since the
// trace's last span, then decides on the whole trace with policies in the
// vocabulary of the Collector's tail_sampling processor (status codes,
// latency, attributes, probability, rate limits, and/or/drop/composite), and
// forwards kept traces to the next stage. A bounded cache of past decisions
// lets late spans follow their trace.
//
// Held spans are acknowledged on receipt but live only in memory until their
// trace is decided: a crash loses up to decision_wait of traffic. Shutdown
// decides and forwards everything held.
package sampling

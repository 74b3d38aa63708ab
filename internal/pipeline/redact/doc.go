// Package redact is the pipeline stage that removes secrets and personal data
// from spans before anything is stored: credentials (bearer and basic tokens,
// JWTs, auth headers, API keys in URLs), payment card numbers, optionally
// e-mail addresses (masked, or replaced by a keyed hash so one user still
// groups together), and whatever the operator's allow-list, block-list and
// value patterns say, in the manner of the Collector's redaction processor.
// Redactor holds the rules and works on any pcommon.Map or string, so the logs
// path applies the same rules to log attributes and bodies.
//
// Cost matters: every attribute of every span passes through here. Each string
// is scanned once into a set of byte classes and a detector runs only when
// its trigger is present (digits for cards, '@' for e-mail, "eyJ" for JWTs,
// '=' for query parameters), so clean values cost one pass and no allocation.
package redact

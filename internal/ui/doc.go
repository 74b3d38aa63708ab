// Package ui serves Clew's web UI: a buildless single-page app (ES modules,
// with Preact and htm vendored under assets/vendor) embedded in the binary.
// It owns the pages (search, trace view with its statistics, flame graph and
// logs tabs, services, logs, errors, users and sessions, service map,
// compare) and reads everything it shows through the public HTTP API
// (Jaeger's /api/ and Clew's /api/clew/); it has no Go-side access to the
// store. Every path that is not a static asset serves index.html, and the app
// routes on the client; /assets/config.json gives the page the server's OTLP
// addresses.
package ui

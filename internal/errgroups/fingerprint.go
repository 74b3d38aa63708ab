package errgroups

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

// Occurrence is one error as the fingerprint sees it, built from a span
// (at ingest or from the store) or from a log record.
type Occurrence struct {
	Type       string // exception.type; "" when unknown
	Message    string // exception.message, the status message or the log body
	Stacktrace string // exception.stacktrace; may be empty
	Service    string
	Operation  string // span name; "" for a log without a span occurrence
}

// maxMessage bounds a normalised message, so one huge message cannot make a
// huge key.
const maxMessage = 300

var (
	reUUID       = regexp.MustCompile(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	reEmail      = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)
	reQuoted     = regexp.MustCompile("\"[^\"]*\"|'[^']*'|`[^`]*`")
	reHex        = regexp.MustCompile(`(?i)\b0x[0-9a-f]+\b|\b[0-9a-f]*[0-9][0-9a-f]*[a-f][0-9a-f]*\b|\b[0-9a-f]*[a-f][0-9a-f]*[0-9][0-9a-f]*\b`)
	reIP         = regexp.MustCompile(`\b\d{1,3}(\.\d{1,3}){3}\b`)
	reID         = regexp.MustCompile(`\b[A-Za-z0-9_\-]*[0-9][A-Za-z0-9_\-]*\b`)
	reNumberUnit = regexp.MustCompile(`^\d+(\.\d+)?[A-Za-z]{0,3}$`)
	reNumber     = regexp.MustCompile(`\d+(\.\d+)?`)
	reSpace      = regexp.MustCompile(`\s+`)
)

// NormalizeMessage replaces what varies between occurrences of the same
// error: UUIDs, e-mail addresses, quoted values, IPv4 addresses, hex strings
// and other IDs (words of six or more characters that mix letters and
// digits), and numbers.
func NormalizeMessage(msg string) string {
	if len(msg) > 4*maxMessage {
		msg = msg[:4*maxMessage]
	}
	msg = reUUID.ReplaceAllString(msg, "<uuid>")
	msg = reEmail.ReplaceAllString(msg, "<email>")
	msg = reQuoted.ReplaceAllString(msg, "<str>")
	msg = reIP.ReplaceAllString(msg, "<ip>")
	msg = reHex.ReplaceAllStringFunc(msg, func(s string) string {
		if len(s) >= 6 || strings.HasPrefix(strings.ToLower(s), "0x") {
			return "<hex>"
		}
		return s
	})
	msg = reID.ReplaceAllStringFunc(msg, func(s string) string {
		if len(s) < 6 || reNumberUnit.MatchString(s) {
			return s // a number, or one with a unit (3000ms): below
		}
		if strings.ContainsAny(s, "<>") {
			return s
		}
		return "<id>"
	})
	msg = reNumber.ReplaceAllString(msg, "<n>")
	msg = strings.TrimSpace(reSpace.ReplaceAllString(msg, " "))
	if len(msg) > maxMessage {
		msg = msg[:maxMessage]
	}
	return msg
}

// Fingerprint returns the group key of an occurrence: 16 hex digits.
func Fingerprint(o Occurrence) string {
	id, _ := fingerprint(o)
	return id
}

// fingerprint returns the group key and the group's description, each
// normalisation done once (they are the costly part of the taps).
func fingerprint(o Occurrence) (string, Info) {
	info := Info{Type: o.Type, Message: o.Message, Pattern: NormalizeMessage(o.Message), Service: o.Service, Operation: o.Operation, Frame: TopInAppFrame(o.Stacktrace)}
	if len(info.Message) > 2*maxMessage {
		info.Message = info.Message[:2*maxMessage]
	}
	h := sha256.New()
	for _, part := range []string{info.Type, info.Pattern, info.Service, info.Operation, info.Frame} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), info
}

var (
	// Java/JavaScript/C#: "at pkg.Class.method(File.java:12)", "at fn (url:1:2)", "at url:1:2".
	reAtFrame = regexp.MustCompile(`^\s*at\s+(?:async\s+)?(.+?)(?:\s+\((.*)\)|\((.*)\))?\s*$`)
	// Python: File "path", line 12, in fn
	rePyFrame = regexp.MustCompile(`^\s*File "([^"]*)", line \d+, in (\S+)`)
	// Go: a function line ("main.handler(0x1, ...)" or "pkg.(*T).M(...)"), followed by "\t/path/file.go:12 +0x1f".
	reGoFunc = regexp.MustCompile(`^([^\s(][^\s]*?)\((?:[^()]*)\)$`)
)

// TopInAppFrame returns the function of the innermost stack frame that
// belongs to the application rather than a runtime, standard library or
// dependency; "" when the stack trace has none it recognises. Line numbers
// are left out: they change with every release.
func TopInAppFrame(stack string) string {
	if stack == "" {
		return ""
	}
	lines := strings.Split(stack, "\n")
	if len(lines) > 200 {
		lines = lines[:200]
	}
	var pyLast string
	for i, line := range lines {
		line = strings.TrimRight(line, "\r")
		if m := rePyFrame.FindStringSubmatch(line); m != nil {
			// Python prints the innermost frame last.
			if !strings.Contains(m[1], "site-packages") && !strings.Contains(m[1], "/lib/python") && !strings.HasPrefix(m[1], "<") {
				pyLast = m[2]
			}
			continue
		}
		if m := reAtFrame.FindStringSubmatch(line); m != nil {
			fn, loc := m[1], m[2]+m[3]
			if loc == "" && (strings.Contains(fn, "/") || strings.Contains(fn, ":")) {
				fn, loc = "", fn // "at url:1:2": an anonymous function
			}
			if inAppLocation(fn, loc) {
				if fn == "" {
					return stripLineCol(loc)
				}
				return fn
			}
			continue
		}
		if m := reGoFunc.FindStringSubmatch(line); m != nil && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t") {
			if inAppGo(m[1]) {
				return m[1]
			}
		}
	}
	return pyLast
}

func inAppLocation(fn, loc string) bool {
	for _, p := range []string{"node_modules", "node:", "internal/", "<anonymous>", "native"} {
		if strings.Contains(loc, p) {
			return false
		}
	}
	for _, p := range []string{"java.", "javax.", "jdk.", "sun.", "kotlin.", "scala.", "org.springframework.", "io.netty.", "System.", "Microsoft."} {
		if strings.HasPrefix(fn, p) {
			return false
		}
	}
	return fn != "" || loc != ""
}

// inAppGo: Go's standard library packages have no dot in their first path
// element (main aside); OpenTelemetry's and gRPC's wrappers never belong to
// the app either.
func inAppGo(fn string) bool {
	pkg := fn
	slash := strings.LastIndexByte(pkg, '/')
	if dot := strings.IndexByte(pkg[slash+1:], '.'); dot >= 0 {
		pkg = pkg[:slash+1+dot]
	}
	if pkg == "main" {
		return true
	}
	first, _, _ := strings.Cut(pkg, "/")
	if !strings.Contains(first, ".") {
		return false
	}
	return !strings.HasPrefix(pkg, "go.opentelemetry.io/") && !strings.HasPrefix(pkg, "google.golang.org/grpc")
}

func stripLineCol(loc string) string {
	for i := 0; i < 2; i++ {
		j := strings.LastIndexByte(loc, ':')
		if j < 0 || strings.Trim(loc[j+1:], "0123456789") != "" {
			break
		}
		loc = loc[:j]
	}
	return loc
}

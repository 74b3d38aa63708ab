package otlp

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

// pacedReader enforces a minimum average transfer rate on a request body:
// after grace, at least minRate bytes per second since the start must have
// arrived. It moves the connection's read deadline ahead of the bytes
// received, so a client that stalls completely is cut off by the deadline
// and one that trickles falls behind it. Without deadline support (a handler
// under httptest) it only reads.
type pacedReader struct {
	src        io.Reader
	rc         *http.ResponseController
	start      time.Time
	minRate    int64
	grace      time.Duration
	received   int64
	noDeadline bool
	tooSlow    bool
}

func newPacedReader(src io.Reader, rc *http.ResponseController, minRate int64, grace time.Duration) *pacedReader {
	return &pacedReader{src: src, rc: rc, start: time.Now(), minRate: minRate, grace: grace}
}

// deadline is when the next byte must have arrived to keep the average rate.
func (p *pacedReader) deadline() time.Time {
	return p.start.Add(p.grace + time.Duration(float64(p.received+1)/float64(p.minRate)*float64(time.Second)))
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if !p.noDeadline {
		if err := p.rc.SetReadDeadline(p.deadline()); errors.Is(err, http.ErrNotSupported) {
			p.noDeadline = true
		}
	}
	n, err := p.src.Read(b)
	p.received += int64(n)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		p.tooSlow = true
		return n, errTooSlow
	}
	return n, err
}

// done lifts the deadline once the body is read. net/http starts a
// background read on the connection after the body's EOF, and a deadline
// passing there would cancel the request's context while the batch is still
// being stored. After a too-slow body the passed deadline stays, so net/http
// does not wait for the rest of the body before answering; it closes the
// connection instead.
func (p *pacedReader) done() {
	if !p.noDeadline && !p.tooSlow {
		_ = p.rc.SetReadDeadline(time.Time{})
	}
}

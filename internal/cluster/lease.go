package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/clewtrace/clew/internal/objstore"
)

// LeaseObject is the name of the compactor lease in the bucket (below the
// bucket's prefix, beside the blocks; block IDs never contain a dot).
const LeaseObject = "compactor.lease.json"

// LeaseOptions configures a Lease.
type LeaseOptions struct {
	Bucket objstore.Conditional
	Holder string        // this node's ID, written into the lease
	TTL    time.Duration // a lease not renewed for this long can be taken over [1 min]
	Now    func() time.Time
	Logger *slog.Logger
}

// Lease is the compactor lease. Held takes it when it is free or expired
// and renews it when half its TTL is gone, each with one GET and one
// conditional PUT; of several nodes racing for it, the bucket lets exactly
// one write win. A holder counts the lease as its own only until a quarter
// of the TTL before it expires, so clocks may differ by up to that much.
type Lease struct {
	opts LeaseOptions

	mu      sync.Mutex
	held    bool
	version string    // the object's version after our last write
	expires time.Time // of our lease, by our clock
	nextTry time.Time // while not held: do not ask the bucket before this
	holder  string    // last holder seen (for logs and /metrics)
}

// leaseRecord is the lease object's content.
type leaseRecord struct {
	Holder          string `json:"holder"`
	ExpiresUnixNano int64  `json:"expiresUnixNano"`
}

// NewLease returns a lease handle; nothing is written until Held.
func NewLease(o LeaseOptions) (*Lease, error) {
	if o.Bucket == nil {
		return nil, errors.New("cluster: the compactor lease needs a bucket with conditional writes")
	}
	if o.Holder == "" {
		return nil, errors.New("cluster: lease holder ID is empty")
	}
	if o.TTL <= 0 {
		o.TTL = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Lease{opts: o}, nil
}

// Held reports whether this node holds the lease now, taking or renewing
// it if due. It never blocks longer than ctx allows.
func (l *Lease) Held(ctx context.Context) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Now()
	ttl := l.opts.TTL
	if l.held && now.Before(l.expires.Add(-ttl/2)) {
		return true
	}
	if !l.held && now.Before(l.nextTry) {
		return false
	}
	err := l.tryLocked(ctx, now)
	switch {
	case err == nil:
	case errors.Is(err, objstore.ErrPrecondition):
		l.lose("another node took the compactor lease")
	default:
		// The bucket did not answer: keep a lease we hold while it is
		// safely unexpired, and try again at the next call.
		if l.held && !now.Before(l.expires.Add(-ttl/4)) {
			l.lose("cannot renew the compactor lease: " + err.Error())
		}
		l.opts.Logger.Warn("compactor lease: bucket error", "err", err)
	}
	if !l.held {
		l.nextTry = now.Add(min(ttl/4, 5*time.Second))
	}
	return l.held
}

func (l *Lease) lose(why string) {
	if l.held {
		l.opts.Logger.Info("compactor lease lost", "reason", why)
	}
	l.held = false
}

func (l *Lease) tryLocked(ctx context.Context, now time.Time) error {
	data, version, err := l.opts.Bucket.GetVersion(ctx, LeaseObject)
	switch {
	case errors.Is(err, objstore.ErrNotExist):
		version = ""
	case err != nil:
		return err
	default:
		var rec leaseRecord
		if err := json.Unmarshal(data, &rec); err != nil {
			// Unreadable: treat it as expired and overwrite it (at its version).
			l.opts.Logger.Warn("compactor lease object is not valid JSON; replacing it", "err", err)
		} else {
			l.holder = rec.Holder
			if rec.Holder != l.opts.Holder && now.UnixNano() < rec.ExpiresUnixNano {
				l.lose("held by " + rec.Holder)
				return nil
			}
			if rec.Holder == l.opts.Holder && !l.held && version != l.version {
				// Our own ID but not our write: another process with the
				// same ID. Let it expire rather than share it.
				if now.UnixNano() < rec.ExpiresUnixNano {
					return nil
				}
			}
		}
	}
	rec := leaseRecord{Holder: l.opts.Holder, ExpiresUnixNano: now.Add(l.opts.TTL).UnixNano()}
	body, _ := json.Marshal(rec)
	newVersion, err := l.opts.Bucket.PutIfVersion(ctx, LeaseObject, body, version)
	if err != nil {
		return fmt.Errorf("write compactor lease: %w", err)
	}
	if !l.held {
		l.opts.Logger.Info("compactor lease taken: this node compacts and applies retention", "holder", l.opts.Holder,
			"previous", l.holder, "ttl", l.opts.TTL)
	}
	l.held, l.version, l.expires, l.holder = true, newVersion, now.Add(l.opts.TTL), l.opts.Holder
	return nil
}

// Release gives the lease up at shutdown, so another node takes over at
// once instead of after the TTL. A lease someone else holds is left alone.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held {
		return nil
	}
	l.held = false
	body, _ := json.Marshal(leaseRecord{Holder: l.opts.Holder, ExpiresUnixNano: 0})
	if _, err := l.opts.Bucket.PutIfVersion(ctx, LeaseObject, body, l.version); err != nil {
		if errors.Is(err, objstore.ErrPrecondition) {
			return nil
		}
		return fmt.Errorf("release compactor lease: %w", err)
	}
	l.opts.Logger.Info("compactor lease released")
	return nil
}

// IsHeld reports, without asking the bucket, whether the lease was held at
// the last check (for /metrics).
func (l *Lease) IsHeld() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held && l.opts.Now().Before(l.expires.Add(-l.opts.TTL/4))
}

// Run keeps the lease until ctx ends: renews it while held and competes
// for it while not, every quarter TTL, so that the holder never lets it
// lapse between compactions and a dead holder is replaced about one TTL
// after its last renewal.
func (l *Lease) Run(ctx context.Context) {
	t := time.NewTicker(l.opts.TTL / 4)
	defer t.Stop()
	for {
		callCtx, cancel := context.WithTimeout(ctx, l.opts.TTL/4)
		l.Held(callCtx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

package geds

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudskin/cloudskin/geds/metadata"
)

// Options configure a Client. NodeID, Dir, Limit and MetadataURL are
// required.
type Options struct {
	// NodeID names this process among the holders (letters, digits, '.',
	// '_', '-'). Two live Clients must not share one.
	NodeID string
	// Dir is tier 0's directory (tmpfs or NVMe). It is cleared at Open.
	Dir string
	// Limit is the most bytes tier 0 may hold.
	Limit int64
	// MetadataURL is the metadata server's root, e.g. http://127.0.0.1:7070.
	MetadataURL string
	// PeerListen is the address the peer server listens on; "" means
	// 127.0.0.1:0 (a free loopback port).
	PeerListen string
	// PeerURL is the URL other nodes reach the peer server at; "" means
	// http://<the listener's address>, which needs PeerListen to name a
	// host rather than a wildcard.
	PeerURL string
	// Persistent is the persistency tier; nil means none (no spilling:
	// a full tier 0 fails writes with ErrTierFull).
	Persistent Persistent
	// HTTPClient talks to the metadata server; nil means one with a 10 s timeout.
	HTTPClient *http.Client
	// Metrics registers the client's metrics (names geds_…, labelled
	// node=NodeID); nil means they are kept but not exported.
	Metrics prometheus.Registerer
	// Log receives what the client has to say; nil discards it.
	Log *slog.Logger

	// HeartbeatInterval is how often the client tells the metadata server
	// it is alive; 0 means 2 s. Keep it well under the server's holder timeout.
	HeartbeatInterval time.Duration
	// SpillAt is the fill level (fraction of Limit) at which automatic
	// spilling starts, SpillTo the level it spills down to; 0 means 0.9 and 0.7.
	SpillAt, SpillTo float64
	// FullWait bounds how long a write waits for spilling to make room
	// before it fails with ErrTierFull; 0 means 5 s.
	FullWait time.Duration
	// SpillConcurrency is how many objects automatic spilling moves at
	// once (default 4): one upload at a time leaves S3 idle between the
	// metadata requests around each.
	SpillConcurrency int
	// SpillBackoffMin and SpillBackoffMax bound the wait between spill
	// attempts while the persistency tier fails; 0 means 100 ms and 10 s.
	SpillBackoffMin, SpillBackoffMax time.Duration
	// Now is the clock for access times; nil means the system's clock, read
	// the cheap way (see tier0.Config.Now).
	Now func() time.Time
}

func (o *Options) withDefaults() (Options, error) {
	out := *o
	if err := metadata.ValidateNodeID(out.NodeID); err != nil {
		return out, fmt.Errorf("geds: options: %w", err)
	}
	if out.Dir == "" {
		return out, errors.New("geds: options: Dir (tier 0's directory) is required")
	}
	if out.Limit <= 0 {
		return out, fmt.Errorf("geds: options: Limit %d: must be positive", out.Limit)
	}
	if out.MetadataURL == "" {
		return out, errors.New("geds: options: MetadataURL is required")
	}
	if out.PeerListen == "" {
		out.PeerListen = "127.0.0.1:0"
	}
	if out.Log == nil {
		out.Log = slog.New(slog.DiscardHandler)
	}
	if out.HeartbeatInterval <= 0 {
		out.HeartbeatInterval = 2 * time.Second
	}
	if out.SpillAt == 0 {
		out.SpillAt = 0.9
	}
	if out.SpillTo == 0 {
		out.SpillTo = 0.7
	}
	if out.SpillAt <= 0 || out.SpillAt > 1 || out.SpillTo < 0 || out.SpillTo > out.SpillAt {
		return out, fmt.Errorf("geds: options: want 0 <= SpillTo (%g) <= SpillAt (%g) <= 1", out.SpillTo, out.SpillAt)
	}
	if out.FullWait <= 0 {
		out.FullWait = 5 * time.Second
	}
	if out.SpillConcurrency == 0 {
		out.SpillConcurrency = 4
	}
	if out.SpillConcurrency < 0 {
		return out, fmt.Errorf("geds: options: SpillConcurrency %d: must be positive", out.SpillConcurrency)
	}
	if out.SpillBackoffMin <= 0 {
		out.SpillBackoffMin = 100 * time.Millisecond
	}
	if out.SpillBackoffMax <= 0 {
		out.SpillBackoffMax = 10 * time.Second
	}
	out.SpillBackoffMax = max(out.SpillBackoffMax, out.SpillBackoffMin)
	return out, nil
}

package peer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// Errors of remote reads (wrapped; test with errors.Is).
var (
	// ErrNotHeld: the peer does not hold that object (any more): it was
	// spilled, deleted or replaced. Ask the metadata service again.
	ErrNotHeld = errors.New("object not held by the peer")
	// ErrNotSealed: the object is still being written.
	ErrNotSealed = errors.New("object not sealed")
	// ErrPeerUnavailable: the peer could not be reached, or the connection
	// broke during the read.
	ErrPeerUnavailable = errors.New("peer unavailable")
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// DialTimeout bounds connecting to a peer; 0 means 3 s.
	DialTimeout time.Duration
	// PingAfter: a connection silent this long is pinged, and closed if the
	// ping is not answered within PingTimeout, so a read from a peer that
	// vanished without closing its connection fails instead of hanging.
	// 0 means 5 s and 5 s.
	PingAfter, PingTimeout time.Duration
}

// Client reads from peers. One Client keeps one h2c connection per peer
// and multiplexes every read to that peer over it; it is safe for
// concurrent use.
type Client struct {
	http *http.Client
	tr   *http.Transport
}

// NewClient returns a client.
func NewClient(cfg ClientConfig) *Client {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 3 * time.Second
	}
	if cfg.PingAfter <= 0 {
		cfg.PingAfter = 5 * time.Second
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = 5 * time.Second
	}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true) // prior knowledge: no HTTP/1 upgrade dance
	tr := &http.Transport{
		Protocols:   &protocols,
		DialContext: (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		HTTP2: &http.HTTP2Config{
			SendPingTimeout:               cfg.PingAfter,
			PingTimeout:                   cfg.PingTimeout,
			MaxReadFrameSize:              1 << 20,
			MaxReceiveBufferPerStream:     4<<20 - 1,
			MaxReceiveBufferPerConnection: 4<<20 - 1,
		},
		ResponseHeaderTimeout: 30 * time.Second,
		// One connection per peer: every read is a stream on it. Without
		// this, a burst of reads to a peer before its first connection is
		// pooled dials a connection per read.
		MaxConnsPerHost: 1,
	}
	return &Client{http: &http.Client{Transport: tr}, tr: tr}
}

// Close drops the client's idle connections.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// ReadRange opens n bytes of the object at off (n < 0: to the end) on the
// peer at peerURL. id, if not empty, must be the object's id there. The
// caller reads and closes the body; a connection that breaks before the
// last byte fails the read with ErrPeerUnavailable, never a short io.EOF.
func (c *Client) ReadRange(ctx context.Context, peerURL, bucket, key, id string, off, n int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, fmt.Errorf("geds peer: read %s/%s: negative offset %d", bucket, key, off)
	}
	u := objectURL(strings.TrimRight(peerURL, "/"), bucket, key, id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("geds peer: read %s/%s from %s: %w", bucket, key, peerURL, err)
	}
	if off > 0 || n >= 0 {
		if n == 0 {
			return io.NopCloser(strings.NewReader("")), nil
		}
		req.Header.Set("Range", formatRange(off, n))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("geds peer: read %s/%s from %s: %w", bucket, key, peerURL, ctx.Err())
		}
		return nil, fmt.Errorf("geds peer: read %s/%s from %s: %w: %w", bucket, key, peerURL, ErrPeerUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		defer resp.Body.Close()
		return nil, fmt.Errorf("geds peer: read %s/%s from %s: %w", bucket, key, peerURL, answerError(resp))
	}
	if resp.ContentLength < 0 {
		resp.Body.Close()
		return nil, fmt.Errorf("geds peer: read %s/%s from %s: answer without Content-Length", bucket, key, peerURL)
	}
	return &body{rc: resp.Body, left: resp.ContentLength, what: fmt.Sprintf("%s/%s from %s", bucket, key, peerURL)}, nil
}

// ReadAt reads len(p) bytes of the object at off into p. It returns fewer
// only with an error; the caller clamps p to the object's size.
func (c *Client) ReadAt(ctx context.Context, peerURL, bucket, key, id string, p []byte, off int64) (int, error) {
	rc, err := c.ReadRange(ctx, peerURL, bucket, key, id, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = fmt.Errorf("geds peer: read %s/%s from %s: the peer sent %d of %d bytes: %w", bucket, key, peerURL, n, len(p), io.ErrUnexpectedEOF)
	}
	return n, err
}

// Drop asks the peer to remove its copy of an object it no longer holds.
func (c *Client) Drop(ctx context.Context, peerURL, bucket, key, id string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, objectURL(strings.TrimRight(peerURL, "/"), bucket, key, id), nil)
	if err != nil {
		return fmt.Errorf("geds peer: drop %s/%s at %s: %w", bucket, key, peerURL, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("geds peer: drop %s/%s at %s: %w: %w", bucket, key, peerURL, ErrPeerUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("geds peer: drop %s/%s at %s: %w", bucket, key, peerURL, answerError(resp))
	}
	return nil
}

// answerError turns an error answer into an error wrapping the matching
// sentinel and the peer's Status.
func answerError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	st := v1alpha1.ParseStatus(resp.StatusCode, data)
	switch st.Reason {
	case ReasonNotHeld:
		return fmt.Errorf("%w: %w", ErrNotHeld, st)
	case ReasonNotSealed:
		return fmt.Errorf("%w: %w", ErrNotSealed, st)
	}
	if resp.StatusCode >= 500 {
		return fmt.Errorf("%w: %w", ErrPeerUnavailable, st)
	}
	return st
}

// body is a response body that must deliver exactly left bytes.
type body struct {
	rc   io.ReadCloser
	left int64
	what string
}

func (b *body) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	switch {
	case b.left == 0:
		return n, b.finish()
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF):
		return n, fmt.Errorf("geds peer: read %s: connection ended %s bytes early: %w: %w", b.what, strconv.FormatInt(b.left, 10), ErrPeerUnavailable, io.ErrUnexpectedEOF)
	default:
		return n, fmt.Errorf("geds peer: read %s: %w: %w", b.what, ErrPeerUnavailable, err)
	}
}

// finish reads the stream's end after the last byte. Closing a stream
// before its end resets it (RST_STREAM), and HTTP/2 clients count reset
// streams against the connection's concurrency until the peer acknowledges
// them, so under load a reader that closes early pushes later reads onto
// new connections.
func (b *body) finish() error {
	var one [1]byte
	n, err := b.rc.Read(one[:])
	switch {
	case n > 0:
		return fmt.Errorf("geds peer: read %s: the peer sent more than its Content-Length", b.what)
	case err == nil, errors.Is(err, io.EOF):
		return io.EOF
	default:
		return fmt.Errorf("geds peer: read %s: %w: %w", b.what, ErrPeerUnavailable, err)
	}
}

func (b *body) Close() error { return b.rc.Close() }

package streamapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/stream"
)

// requestTimeout bounds a call, beyond the wait a read asks for.
const requestTimeout = 30 * time.Second

// Client calls the stream store's API. Errors from the server are
// *v1alpha1.Status, as with the control plane's client; IsNotFound,
// IsConflict and IsBackPressure classify them.
type Client struct {
	base  string
	http  *http.Client
	token string
}

// NewClient returns a client for the server at base (an http or https URL,
// the same server as the control plane's under `cloudskin up`).
func NewClient(base, token string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("stream server %q: want a URL such as http://127.0.0.1:7070", base)
	}
	// Keep a connection per concurrent caller: the default keeps two, and
	// a busy writer would otherwise open a connection per append.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	return &Client{base: strings.TrimRight(u.String(), "/"), http: &http.Client{Transport: transport}, token: token}, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// IsNotFound reports whether err is the server's 404.
func IsNotFound(err error) bool { return statusCode(err) == http.StatusNotFound }

// IsConflict reports whether err is the server's 409 (exists, or in use).
func IsConflict(err error) bool { return statusCode(err) == http.StatusConflict }

// IsBackPressure reports whether the store refused an append because its
// local budget is exhausted; retry later.
func IsBackPressure(err error) bool {
	var st *v1alpha1.Status
	return errors.As(err, &st) && st.Code == http.StatusServiceUnavailable && st.Reason == "BackPressure"
}

func statusCode(err error) int {
	var st *v1alpha1.Status
	if errors.As(err, &st) {
		return int(st.Code)
	}
	return 0
}

func streamPath(n stream.StreamName) string {
	return Base + "/scopes/" + url.PathEscape(n.Scope) + "/streams/" + url.PathEscape(n.Stream)
}

// Scopes lists the scopes.
func (c *Client) Scopes(ctx context.Context) ([]string, error) {
	var l List
	err := c.do(ctx, http.MethodGet, Base+"/scopes", nil, &l, 0)
	return l.Items, err
}

// CreateScope creates a scope.
func (c *Client) CreateScope(ctx context.Context, scope string) error {
	return c.do(ctx, http.MethodPut, Base+"/scopes/"+url.PathEscape(scope), nil, nil, 0)
}

// DeleteScope deletes a scope without streams.
func (c *Client) DeleteScope(ctx context.Context, scope string) error {
	return c.do(ctx, http.MethodDelete, Base+"/scopes/"+url.PathEscape(scope), nil, nil, 0)
}

// Streams lists a scope's streams.
func (c *Client) Streams(ctx context.Context, scope string) ([]string, error) {
	var l List
	err := c.do(ctx, http.MethodGet, Base+"/scopes/"+url.PathEscape(scope)+"/streams", nil, &l, 0)
	return l.Items, err
}

// CreateStream creates a stream in an existing scope.
func (c *Client) CreateStream(ctx context.Context, n stream.StreamName, spec StreamSpec) (Stream, error) {
	var s Stream
	err := c.do(ctx, http.MethodPut, streamPath(n), spec, &s, 0)
	return s, err
}

// Stream describes a stream.
func (c *Client) Stream(ctx context.Context, n stream.StreamName) (Stream, error) {
	var s Stream
	err := c.do(ctx, http.MethodGet, streamPath(n), nil, &s, 0)
	return s, err
}

// DeleteStream deletes a stream and its data.
func (c *Client) DeleteStream(ctx context.Context, n stream.StreamName) error {
	return c.do(ctx, http.MethodDelete, streamPath(n), nil, nil, 0)
}

// Append appends events with one routing key and returns once they are
// durable.
func (c *Client) Append(ctx context.Context, n stream.StreamName, req AppendRequest) (AppendResult, error) {
	var res AppendResult
	err := c.do(ctx, http.MethodPost, streamPath(n)+"/events", req, &res, 0)
	return res, err
}

// ReadSegment reads a segment's events from offset from, at most maxBytes
// (0: the server's 1 MiB), waiting up to wait for new ones at the end.
func (c *Client) ReadSegment(ctx context.Context, n stream.StreamName, segment uint64, from, maxBytes int64, wait time.Duration) (Events, error) {
	q := url.Values{"from": {strconv.FormatInt(from, 10)}}
	if maxBytes > 0 {
		q.Set("maxBytes", strconv.FormatInt(maxBytes, 10))
	}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	var out Events
	path := streamPath(n) + "/segments/" + strconv.FormatUint(segment, 10) + "/events?" + q.Encode()
	err := c.do(ctx, http.MethodGet, path, nil, &out, wait)
	return out, err
}

// AppendBinary appends one event sent as raw bytes (no JSON, no base64):
// the fast path for large events such as video frames. writer and seq
// make it idempotent as in AppendRequest ("" and 0: not).
func (c *Client) AppendBinary(ctx context.Context, n stream.StreamName, key string, event []byte, writer string, seq int64) (AppendResult, error) {
	q := url.Values{"key": {key}}
	if writer != "" {
		q.Set("writer", writer)
		q.Set("seq", strconv.FormatInt(seq, 10))
	}
	data, _, err := c.send(ctx, http.MethodPost, streamPath(n)+"/events?"+q.Encode(), BinaryType, "application/json", event, true, 0)
	if err != nil {
		return AppendResult{}, err
	}
	var res AppendResult
	if err := json.Unmarshal(data, &res); err != nil {
		return res, fmt.Errorf("append: decode answer: %w", err)
	}
	return res, nil
}

// ReadSegmentBinary is ReadSegment with events as length-prefixed records
// instead of JSON: the fast path for large events. The events' Data alias
// one buffer of the answer.
func (c *Client) ReadSegmentBinary(ctx context.Context, n stream.StreamName, segment uint64, from, maxBytes int64, wait time.Duration) (Events, error) {
	q := url.Values{"from": {strconv.FormatInt(from, 10)}}
	if maxBytes > 0 {
		q.Set("maxBytes", strconv.FormatInt(maxBytes, 10))
	}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	path := streamPath(n) + "/segments/" + strconv.FormatUint(segment, 10) + "/events?" + q.Encode()
	data, header, err := c.send(ctx, http.MethodGet, path, "", BinaryType, nil, false, wait)
	if err != nil {
		return Events{}, err
	}
	next, err := strconv.ParseInt(header.Get(HeaderNext), 10, 64)
	if err != nil {
		return Events{}, fmt.Errorf("read: %s header %q: %w", HeaderNext, header.Get(HeaderNext), err)
	}
	sealed, successors, err := sealedFrom(header)
	if err != nil {
		return Events{}, err
	}
	events, err := DecodeEvents(segment, data)
	return Events{Events: events, Next: next, Sealed: sealed, Successors: successors}, err
}

// Truncate discards each segment's events before its offset in cut.
func (c *Client) Truncate(ctx context.Context, n stream.StreamName, cut map[uint64]int64) error {
	return c.do(ctx, http.MethodPost, streamPath(n)+"/truncate", TruncateRequest{Cut: cut}, nil, 0)
}

// Scale changes a stream's segments: seal some and create successors
// (req.Seal and req.Ranges), split one (req.Split, req.Parts) or merge
// adjacent ones (req.Merge). A segment already sealed answers 409
// (IsConflict); ranges that do not tile the sealed ones' range, 400.
func (c *Client) Scale(ctx context.Context, n stream.StreamName, req ScaleRequest) (ScaleResult, error) {
	var res ScaleResult
	err := c.do(ctx, http.MethodPost, streamPath(n)+"/scale", req, &res, 0)
	return res, err
}

// Groups lists the reader groups.
func (c *Client) Groups(ctx context.Context) ([]string, error) {
	var l List
	err := c.do(ctx, http.MethodGet, Base+"/groups", nil, &l, 0)
	return l.Items, err
}

// CreateGroup creates a reader group over a stream, from its start.
func (c *Client) CreateGroup(ctx context.Context, group string, n stream.StreamName) (Group, error) {
	var g Group
	err := c.do(ctx, http.MethodPut, Base+"/groups/"+url.PathEscape(group), CreateGroupRequest{Stream: n.String()}, &g, 0)
	return g, err
}

// Group describes a reader group.
func (c *Client) Group(ctx context.Context, group string) (Group, error) {
	var g Group
	err := c.do(ctx, http.MethodGet, Base+"/groups/"+url.PathEscape(group), nil, &g, 0)
	return g, err
}

// DeleteGroup deletes a reader group.
func (c *Client) DeleteGroup(ctx context.Context, group string) error {
	return c.do(ctx, http.MethodDelete, Base+"/groups/"+url.PathEscape(group), nil, nil, 0)
}

// Checkpoint stores the group's positions durably.
func (c *Client) Checkpoint(ctx context.Context, group string) (Group, error) {
	var g Group
	err := c.do(ctx, http.MethodPost, Base+"/groups/"+url.PathEscape(group)+"/checkpoint", nil, &g, 0)
	return g, err
}

func readerPath(group, reader string) string {
	return Base + "/groups/" + url.PathEscape(group) + "/readers/" + url.PathEscape(reader)
}

// Join makes reader a member of group (again, harmlessly).
func (c *Client) Join(ctx context.Context, group, reader string) error {
	return c.do(ctx, http.MethodPut, readerPath(group, reader), nil, nil, 0)
}

// ReadGroup returns up to max events for a reader of a group, waiting up
// to wait for the first.
func (c *Client) ReadGroup(ctx context.Context, group, reader string, max int, wait time.Duration) ([]Event, error) {
	q := url.Values{"max": {strconv.Itoa(max)}}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	var out Events
	err := c.do(ctx, http.MethodGet, readerPath(group, reader)+"/events?"+q.Encode(), nil, &out, wait)
	return out.Events, err
}

// Leave takes a reader out of its group; its segments go to the others.
func (c *Client) Leave(ctx context.Context, group, reader string) error {
	return c.do(ctx, http.MethodDelete, readerPath(group, reader), nil, nil, 0)
}

// setInstancesWait is how long SetInstances waits beyond the usual
// timeout: each move closes a container and replays its log elsewhere.
const setInstancesWait = 5 * time.Minute

// Instances lists the segment-store instances of a cluster and the
// containers each hosts. A server that runs a single store answers 501
// (IsNotImplemented).
func (c *Client) Instances(ctx context.Context) (Instances, error) {
	var out Instances
	err := c.do(ctx, http.MethodGet, Base+"/instances", nil, &out, 0)
	return out, err
}

// SetInstances makes the cluster run n instances and returns the
// container moves that took and the instances after. With authentication
// on, it needs a token of role operator.
func (c *Client) SetInstances(ctx context.Context, n int) ([]stream.ContainerMove, Instances, error) {
	var out InstancesChange
	if err := c.do(ctx, http.MethodPut, Base+"/instances", SetInstancesRequest{Count: n}, &out, setInstancesWait); err != nil {
		return nil, Instances{}, err
	}
	moves, err := movesFrom(out.Moves)
	return moves, out.Instances, err
}

// IsNotImplemented reports whether err is the server's 501: the instance
// API of a server that runs a single store.
func IsNotImplemented(err error) bool { return statusCode(err) == http.StatusNotImplemented }

// do sends body as JSON and decodes a 2xx answer into out; any other answer
// becomes a *v1alpha1.Status. wait is how long the server may hold the
// request on purpose.
func (c *Client) do(ctx context.Context, method, path string, body, out any, wait time.Duration) error {
	var raw []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		raw = b
	}
	data, _, err := c.send(ctx, method, path, "application/json", "application/json", raw, body != nil, wait)
	if err != nil || out == nil || len(data) == 0 {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send makes one request with body (if hasBody) and returns a 2xx
// answer's bytes and headers; other answers become a *v1alpha1.Status.
func (c *Client) send(ctx context.Context, method, path, contentType, accept string, body []byte, hasBody bool, wait time.Duration) ([]byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout+wait)
	defer cancel()
	var rd io.Reader
	if hasBody {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", accept)
	if hasBody {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("stream store at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, nil, v1alpha1.ParseStatus(resp.StatusCode, data)
	}
	return data, resp.Header, nil
}

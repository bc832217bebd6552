package metadata

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// Client talks to a metadata service. Errors from the service wrap the
// package's sentinel errors (ErrNotFound, ErrLost, …) and the *v1alpha1.Status
// the service answered, so callers use errors.Is and errors.As.
type Client struct {
	base string
	http *http.Client
}

// NewClient returns a client for the service at baseURL (the server's root,
// e.g. http://127.0.0.1:7070; the API lives under /geds/v1). hc nil means a
// client with a 10 s timeout.
func NewClient(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("geds metadata URL %q: want a URL such as http://127.0.0.1:7070", baseURL)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{base: strings.TrimRight(u.String(), "/") + "/geds/v1", http: hc}, nil
}

// Close drops the client's idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// URL returns the API's base URL.
func (c *Client) URL() string { return c.base }

func bucketPath(bucket string) string { return "/buckets/" + url.PathEscape(bucket) }
func objectPath(bucket, key string) string {
	return bucketPath(bucket) + "/objects/" + url.PathEscape(key)
}
func holderPath(node string) string { return "/holders/" + url.PathEscape(node) }

// CreateBucket creates a bucket; req.Persistent empty means the same name.
func (c *Client) CreateBucket(ctx context.Context, name string, req CreateBucketRequest) (Bucket, error) {
	var b Bucket
	return b, c.do(ctx, http.MethodPut, bucketPath(name), req, &b)
}

// GetBucket returns one bucket.
func (c *Client) GetBucket(ctx context.Context, name string) (Bucket, error) {
	var b Bucket
	return b, c.do(ctx, http.MethodGet, bucketPath(name), nil, &b)
}

// ListBuckets returns every bucket in name order.
func (c *Client) ListBuckets(ctx context.Context) ([]Bucket, error) {
	var l BucketList
	return l.Items, c.do(ctx, http.MethodGet, "/buckets", nil, &l)
}

// DeleteBucket removes an empty bucket.
func (c *Client) DeleteBucket(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, bucketPath(name), nil, nil)
}

// RegisterHolder registers (or re-registers) a holder.
func (c *Client) RegisterHolder(ctx context.Context, node string, req RegisterRequest) (Holder, error) {
	var h Holder
	return h, c.doIdempotent(ctx, http.MethodPut, holderPath(node), req, &h)
}

// Heartbeat says the holder's incarnation is alive. An error wrapping
// ErrHolderDead means the holder must register again with a new
// incarnation.
func (c *Client) Heartbeat(ctx context.Context, node, incarnation string) (Holder, error) {
	var h Holder
	return h, c.doIdempotent(ctx, http.MethodPost, holderPath(node)+"/heartbeat", IncarnationRequest{Incarnation: incarnation}, &h)
}

// Leave declares the holder dead at once (a clean shutdown).
func (c *Client) Leave(ctx context.Context, node, incarnation string) error {
	return c.do(ctx, http.MethodPost, holderPath(node)+"/leave", IncarnationRequest{Incarnation: incarnation}, nil)
}

// ListHolders returns every holder with its liveness.
func (c *Client) ListHolders(ctx context.Context) ([]Holder, error) {
	var l HolderList
	return l.Items, c.do(ctx, http.MethodGet, "/holders", nil, &l)
}

// CreateObject records a new open object held by the given holder.
func (c *Client) CreateObject(ctx context.Context, bucket, key string, req CreateObjectRequest) (Object, error) {
	var o Object
	return o, c.do(ctx, http.MethodPut, objectPath(bucket, key), req, &o)
}

// SealObject seals an open object with its final size.
func (c *Client) SealObject(ctx context.Context, bucket, key string, req SealRequest) (Object, error) {
	var o Object
	return o, c.doIdempotent(ctx, http.MethodPost, objectPath(bucket, key)+"/seal", req, &o)
}

// SetTier records a persist (TierBoth) or a spill (TierS3).
func (c *Client) SetTier(ctx context.Context, bucket, key string, req TierRequest) (Object, error) {
	var o Object
	return o, c.doIdempotent(ctx, http.MethodPost, objectPath(bucket, key)+"/tier", req, &o)
}

// ReplaceObject puts the sealed object req names in place of bucket/key's
// current life, at once for readers, and returns both.
func (c *Client) ReplaceObject(ctx context.Context, bucket, key string, req ReplaceRequest) (ReplaceResult, error) {
	var res ReplaceResult
	return res, c.doIdempotent(ctx, http.MethodPost, objectPath(bucket, key)+"/replace", req, &res)
}

// GetObject returns one object as it stands now.
func (c *Client) GetObject(ctx context.Context, bucket, key string) (Object, error) {
	var o Object
	return o, c.do(ctx, http.MethodGet, objectPath(bucket, key), nil, &o)
}

// DeleteObject forgets an object and returns what it was, so the caller
// can remove its bytes.
func (c *Client) DeleteObject(ctx context.Context, bucket, key string) (Object, error) {
	var o Object
	return o, c.do(ctx, http.MethodDelete, objectPath(bucket, key), nil, &o)
}

// ListObjects returns a page of objects whose keys start with prefix and
// sort after token ("" for the first page); limit 0 means the server's
// default.
func (c *Client) ListObjects(ctx context.Context, bucket, prefix, token string, limit int) (ObjectList, error) {
	q := url.Values{}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	if token != "" {
		q.Set("token", token)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := bucketPath(bucket) + "/objects"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var l ObjectList
	return l, c.do(ctx, http.MethodGet, path, nil, &l)
}

// do sends body as JSON and decodes a 2xx answer into out.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	return c.send(ctx, method, path, body, out, false)
}

// doIdempotent is do for requests that may safely be sent twice.
func (c *Client) doIdempotent(ctx context.Context, method, path string, body, out any) error {
	return c.send(ctx, method, path, body, out, true)
}

func (c *Client) send(ctx context.Context, method, path string, body, out any, idempotent bool) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("geds metadata: %s %s: encode request: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("geds metadata: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idempotent {
		// Repeating the request has the same effect (a second seal or tier
		// change is a no-op, a heartbeat is a heartbeat). Saying so lets
		// net/http resend it when its pooled connection turns out dead, as
		// after a server restart.
		req.Header.Set("Idempotency-Key", rand.Text())
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("geds metadata at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("geds metadata: %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return statusError(resp.StatusCode, data)
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("geds metadata: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// Error is an error answer of the service: its Status, and the sentinel
// error its reason stands for (nil for reasons without one).
type Error struct {
	Status *v1alpha1.Status
	Kind   error
}

func (e *Error) Error() string { return "geds metadata: " + e.Status.Message }

// Unwrap lets errors.Is match the sentinel and errors.As the Status.
func (e *Error) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Status}
	}
	return []error{e.Kind, e.Status}
}

func statusError(code int, data []byte) error {
	st := v1alpha1.ParseStatus(code, data)
	kinds := map[string]error{
		reasonNotFound:       ErrNotFound,
		reasonAlreadyExists:  ErrExists,
		reasonLost:           ErrLost,
		reasonConflict:       ErrConflict,
		reasonHolderDead:     ErrHolderDead,
		reasonBucketNotEmpty: ErrBucketNotEmpty,
		reasonInvalidName:    ErrInvalidName,
	}
	return &Error{Status: st, Kind: kinds[st.Reason]}
}

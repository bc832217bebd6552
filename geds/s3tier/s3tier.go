// Package s3tier is the persistency tier of GEDS: objects spilled from tier
// 0, read through when no node holds them, and recovered after a node is
// lost, kept in any S3-compatible store.
//
// It wraps minio-go rather than handing it to GEDS, for three reasons:
//
//   - Errors are classified. An error wraps fs.ErrNotExist (no such object
//     or bucket), fs.ErrPermission (refused credentials), ErrUnavailable
//     (S3 unreachable, timing out, or failing with a 5xx or a throttle), or
//     none of them (a bad request, which retrying will not fix), so GEDS
//     decides with errors.Is whether to fall back, fail, or retry, without
//     knowing S3 error codes or minio-go's types.
//   - Puts stream with a known size: at most one part (PartSize) is buffered
//     for a plain reader, and none for an io.ReaderAt such as a tier-0 file,
//     whose parts go up Concurrency at a time straight from the file.
//   - Retrying is ours and visible (Retry, Policy). minio-go's own retries
//     are turned off, because they hide an outage for seconds on every call
//     and cannot replay a streamed body anyway.
//   - Writes and reads can be conditional on what S3 holds under the key
//     (PutIfAbsent, PutIfMatch, GetRangeIfMatch: If-None-Match and If-Match
//     by ETag), so that GEDS never overwrites a newer life of a key with an
//     older one, nor reads one life's bytes for another's. minio-go v7.4.1
//     sends a put's conditions on a multipart upload's first request but not
//     on CompleteMultipartUpload, where S3 checks them against the object it
//     replaces; this package adds them there (see completeConditions).
//
// The method set matches the persistency-tier interface declared by package
// geds; this package does not import geds.
package s3tier

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// ErrUnavailable is wrapped by errors that say S3 could not be reached or
// failed in a way that may pass (network errors, timeouts, 5xx, throttling):
// the same call may succeed later. See Retry.
var ErrUnavailable = errors.New("S3 unavailable")

// ErrRange is wrapped by GetRange's error when the range starts past the end
// of the object.
var ErrRange = errors.New("range starts past the end of the object")

// ErrPrecondition is wrapped by the error of a conditional call (PutIfAbsent,
// PutIfMatch, GetRangeIfMatch) when S3 holds another object under the key
// than the condition names (HTTP 412 Precondition Failed). It also matches
// fs.ErrExist: another object exists there.
var ErrPrecondition error = &alsoError{"precondition failed: S3 holds another object under the key than the one named", fs.ErrExist}

// alsoError is a sentinel that also matches another error, without
// repeating its text.
type alsoError struct {
	msg  string
	also error
}

func (e *alsoError) Error() string { return e.msg }
func (e *alsoError) Unwrap() error { return e.also }

// lifeHeader is the S3 user metadata that tags an object with the GEDS life
// its bytes belong to (PutIfAbsent, PutIfMatch; read back by Head).
const lifeHeader = "X-Amz-Meta-Geds-Life"

// S3's limits on multipart parts.
const (
	minPartSize = 5 << 20
	maxPartSize = 5 << 30
)

// Defaults for the zero Config fields.
const (
	DefaultPartSize    = 16 << 20
	DefaultConcurrency = 4
)

// Config says which S3 to use and how.
type Config struct {
	// Endpoint is host:port, without a scheme; Secure selects https.
	Endpoint string
	// AccessKey and SecretKey are static credentials; both empty means
	// anonymous requests.
	AccessKey string
	SecretKey string
	Secure    bool
	// Region is the S3 region. Empty lets minio-go ask each bucket for its
	// location once; set it for AWS to save that request.
	Region string
	// BucketPrefix is prepended to every GEDS bucket name to make the S3
	// bucket name, so several deployments can share one S3 account.
	BucketPrefix string
	// PartSize is the multipart part size (default 16 MiB, at least 5 MiB);
	// objects up to this size go up in one PUT.
	PartSize int64
	// Concurrency is how many parts of one io.ReaderAt source are uploaded
	// at once (default 4). A plain io.Reader is uploaded a part at a time.
	Concurrency int
	// SignPayload puts each body's SHA-256 into the request's signature over
	// plain HTTP, minio-go's default there: the client and the server then
	// both hash every byte. Unset, bodies go as unsigned payload with a
	// CRC32C checksum in a trailer, as minio-go sends them over TLS: the
	// request stays signed and the body is checked for corruption, not for
	// forgery by someone on the path (use Secure for that). The S3 must
	// support trailing checksums (AWS, MinIO and the GEDS gateway do).
	SignPayload bool
	// Transport carries the requests; nil means minio-go's default
	// transport. Tests set short timeouts here.
	Transport http.RoundTripper
}

// Tier is a persistency tier over one S3 endpoint. It is safe for
// concurrent use.
type Tier struct {
	client      *minio.Client
	region      string
	prefix      string
	partSize    uint64
	concurrency uint
	signPayload bool
}

// New returns a tier over cfg's S3. It does not contact S3.
func New(cfg Config) (*Tier, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("s3tier: empty endpoint")
	}
	if strings.Contains(cfg.Endpoint, "://") {
		return nil, fmt.Errorf("s3tier: endpoint %q: want host:port without a scheme (set Secure for https)", cfg.Endpoint)
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < minPartSize || cfg.PartSize > maxPartSize {
		return nil, fmt.Errorf("s3tier: part size %d: S3 needs 5 MiB to 5 GiB", cfg.PartSize)
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Concurrency < 0 {
		return nil, fmt.Errorf("s3tier: concurrency %d: must be positive", cfg.Concurrency)
	}
	transport := cfg.Transport
	if transport == nil {
		var err error
		if transport, err = minio.DefaultTransport(cfg.Secure); err != nil {
			return nil, fmt.Errorf("s3tier: transport: %w", err)
		}
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.Secure,
		Region:    cfg.Region,
		Transport: completeConditions{next: transport},
		// One attempt per call: Retry is where retrying happens.
		MaxRetries: 1,
		// Lets unsigned bodies carry their CRC32C after the data.
		TrailingHeaders: true,
	})
	if err != nil {
		return nil, fmt.Errorf("s3tier: endpoint %q: %w", cfg.Endpoint, err)
	}
	return &Tier{
		client:      client,
		region:      cfg.Region,
		prefix:      cfg.BucketPrefix,
		partSize:    uint64(cfg.PartSize),
		concurrency: uint(cfg.Concurrency),
		signPayload: cfg.SignPayload,
	}, nil
}

// EnsureBucket creates the S3 bucket for GEDS bucket if it does not exist.
// Racing callers are fine: a bucket created meanwhile by us counts as
// success.
func (t *Tier) EnsureBucket(ctx context.Context, bucket string) error {
	b, err := t.s3Bucket(bucket)
	if err != nil {
		return err
	}
	// Ask first: credentials allowed to use a bucket may not be allowed to
	// create one, and the bucket usually exists.
	exists, err := t.client.BucketExists(ctx, b)
	if err != nil {
		return t.fail(ctx, "ensure bucket", b, err)
	}
	if exists {
		return nil
	}
	err = t.client.MakeBucket(ctx, b, minio.MakeBucketOptions{Region: t.region})
	if s3Code(err) == "BucketAlreadyOwnedByYou" {
		return nil
	}
	return t.fail(ctx, "create bucket", b, err)
}

// Put stores the first size bytes read from r as bucket/key, replacing any
// object there. Objects larger than PartSize go up as a multipart upload,
// streamed: see the package doc for what is buffered. A reader that ends
// before size bytes, or fails, makes Put fail without ErrUnavailable.
func (t *Tier) Put(ctx context.Context, bucket, key string, r io.Reader, size int64) error {
	_, err := t.put(ctx, bucket, key, r, size, putCondition{}, "")
	return err
}

// PutIfAbsent is Put done only if no object is under bucket/key, checked by
// S3 as it stores the object (If-None-Match: *). The object is tagged with
// life (user metadata geds-life, read back by Head) when life is not empty.
// It returns the ETag S3 gave the new object. An object already there makes
// it fail with ErrPrecondition and stores nothing.
func (t *Tier) PutIfAbsent(ctx context.Context, bucket, key, life string, r io.Reader, size int64) (etag string, err error) {
	return t.put(ctx, bucket, key, r, size, putCondition{absent: true}, life)
}

// PutIfMatch is PutIfAbsent replacing the object under bucket/key whose ETag
// is match (If-Match). Another object there makes it fail with
// ErrPrecondition, no object at all with an error wrapping fs.ErrNotExist;
// either way nothing is stored.
func (t *Tier) PutIfMatch(ctx context.Context, bucket, key, life string, r io.Reader, size int64, match string) (etag string, err error) {
	if match == "" {
		return "", fmt.Errorf("s3tier: put %s/%s: empty ETag to match", bucket, key)
	}
	return t.put(ctx, bucket, key, r, size, putCondition{match: match}, life)
}

func (t *Tier) put(ctx context.Context, bucket, key string, r io.Reader, size int64, cond putCondition, life string) (string, error) {
	b, err := t.s3Bucket(bucket)
	if err != nil {
		return "", err
	}
	if err := checkKey(key); err != nil {
		return "", err
	}
	what := b + "/" + key + cond.String()
	if size < 0 {
		return "", fmt.Errorf("s3tier: put %s: size %d: the size must be known", what, size)
	}
	body, src := newSource(r, size)
	// minio-go's parallel part uploaders exit when ctx ends; make sure it
	// does, whatever the caller's ctx.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := minio.PutObjectOptions{PartSize: t.partSize, NumThreads: t.concurrency}
	if !t.signPayload {
		// Asked for explicitly: minio-go's automatic CRC32C is dropped on
		// a single PUT over plain HTTP (v7.4.1), which would leave the
		// body unchecked.
		opts.DisableContentSha256 = true
		opts.Checksum = minio.ChecksumCRC32C
	}
	if life != "" {
		opts.UserMetadata = map[string]string{lifeHeader: life}
	}
	if h := cond.header(); h != nil {
		// minio-go sends the condition on a single PUT, and on the first
		// request of a multipart upload (so that it is refused before any
		// part goes up); completeConditions adds it to the last.
		cond.apply(&opts)
		ctx = context.WithValue(ctx, completeConditionsKey{}, h)
	}
	info, err := t.client.PutObject(ctx, b, key, body, size, opts)
	if readErr := src.failure(); readErr != nil {
		return "", fmt.Errorf("s3tier: put %s: read source: %w", what, readErr)
	}
	if err != nil {
		return "", t.fail(ctx, "put", what, err)
	}
	return info.ETag, nil
}

// putCondition is what S3 must hold under a key for a put to go ahead:
// nothing (absent), the object whose ETag is match, or, when zero,
// anything.
type putCondition struct {
	absent bool
	match  string
}

func (c putCondition) apply(opts *minio.PutObjectOptions) {
	switch {
	case c.absent:
		opts.SetMatchETagExcept("*")
	case c.match != "":
		opts.SetMatchETag(c.match)
	}
}

// header is the condition as S3 request headers; nil when there is none.
func (c putCondition) header() http.Header {
	switch {
	case c.absent:
		return http.Header{"If-None-Match": {"*"}}
	case c.match != "":
		return http.Header{"If-Match": {`"` + c.match + `"`}}
	}
	return nil
}

func (c putCondition) String() string {
	switch {
	case c.absent:
		return " (if absent)"
	case c.match != "":
		return fmt.Sprintf(" (if ETag %s)", c.match)
	}
	return ""
}

// completeConditionsKey carries a put's condition headers in its context to
// completeConditions.
type completeConditionsKey struct{}

// completeConditions adds a put's condition headers to its
// CompleteMultipartUpload request (a POST with an uploadId), which
// minio-go v7.4.1 sends without them (it keeps only encryption and checksum
// options there). S3 and MinIO check a multipart upload's conditions on
// that request, as the object is replaced, so without them a large object
// would be checked only when its upload starts, and could overwrite an
// object stored while its parts went up. The headers are added after
// minio-go signed the request: SigV4 signs the host, the x-amz-* headers
// and what the client chose, and S3 accepts other headers unsigned.
type completeConditions struct{ next http.RoundTripper }

func (c completeConditions) RoundTrip(req *http.Request) (*http.Response, error) {
	h, _ := req.Context().Value(completeConditionsKey{}).(http.Header)
	if h == nil || req.Method != http.MethodPost || !req.URL.Query().Has("uploadId") {
		return c.next.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	for k, v := range h {
		req.Header[k] = v
	}
	return c.next.RoundTrip(req)
}

// GetRange returns n bytes of bucket/key from offset off, or everything
// from off when n < 0. A range running past the end is cut at the end; one
// starting past the end fails with ErrRange. The reader is tied to ctx:
// keep ctx alive until it is closed. Errors while reading are classified as
// for the other calls.
func (t *Tier) GetRange(ctx context.Context, bucket, key string, off, n int64) (io.ReadCloser, error) {
	return t.getRange(ctx, bucket, key, off, n, "")
}

// GetRangeIfMatch is GetRange of the object whose ETag is etag: if
// bucket/key is another object now, it fails with ErrPrecondition (checked
// by S3 with If-Match), so a reader never gets the bytes of an object that
// replaced the one it was reading.
func (t *Tier) GetRangeIfMatch(ctx context.Context, bucket, key string, off, n int64, etag string) (io.ReadCloser, error) {
	if etag == "" {
		return nil, fmt.Errorf("s3tier: get %s/%s: empty ETag to match", bucket, key)
	}
	return t.getRange(ctx, bucket, key, off, n, etag)
}

// getRange is GetRange, of the object whose ETag is etag unless it is "".
func (t *Tier) getRange(ctx context.Context, bucket, key string, off, n int64, etag string) (io.ReadCloser, error) {
	b, err := t.s3Bucket(bucket)
	if err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("%s/%s bytes %s", b, key, rangeText(off, n))
	if etag != "" {
		what += fmt.Sprintf(" (if ETag %s)", etag)
	}
	if off < 0 {
		return nil, fmt.Errorf("s3tier: get %s: negative offset", what)
	}
	if n > 0 && off > (1<<63-1)-n {
		return nil, fmt.Errorf("s3tier: get %s: range overflows", what)
	}
	if n == 0 {
		// S3 cannot express an empty range; answer from the object's size.
		return t.emptyRange(ctx, bucket, key, off, etag, what)
	}
	var opts minio.GetObjectOptions
	switch {
	case n > 0:
		err = opts.SetRange(off, off+n-1)
	case off > 0:
		err = opts.SetRange(off, 0) // bytes=off-
	}
	if err == nil && etag != "" {
		err = opts.SetMatchETag(etag)
	}
	if err != nil {
		return nil, fmt.Errorf("s3tier: get %s: %w", what, err)
	}
	body, _, _, err := minio.Core{Client: t.client}.GetObject(ctx, b, key, opts)
	if s3Status(err) == http.StatusRequestedRangeNotSatisfiable {
		// Also what S3 answers for a range at the very end, or any range
		// of an empty object: that is an empty read, not an error.
		return t.emptyRange(ctx, bucket, key, off, etag, what)
	}
	if err != nil {
		return nil, t.fail(ctx, "get", what, err)
	}
	return &objectReader{body: body, ctx: ctx, what: what}, nil
}

// emptyRange answers a range that holds no bytes: empty if it starts at or
// before the end of the object, ErrRange past it; ErrPrecondition if etag
// is set and the object is another.
func (t *Tier) emptyRange(ctx context.Context, bucket, key string, off int64, etag, what string) (io.ReadCloser, error) {
	size, got, _, err := t.Head(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	if etag != "" && got != etag {
		return nil, fmt.Errorf("s3tier: get %s: the object's ETag is %s: %w", what, got, ErrPrecondition)
	}
	if off > size {
		return nil, fmt.Errorf("s3tier: get %s: object has %d bytes: %w", what, size, ErrRange)
	}
	return io.NopCloser(strings.NewReader("")), nil
}

// Stat returns the size of bucket/key.
func (t *Tier) Stat(ctx context.Context, bucket, key string) (int64, error) {
	size, _, _, err := t.Head(ctx, bucket, key)
	return size, err
}

// Head returns the size and ETag of bucket/key, and the life it was tagged
// with by PutIfAbsent or PutIfMatch ("" if none).
func (t *Tier) Head(ctx context.Context, bucket, key string) (size int64, etag, life string, err error) {
	b, err := t.s3Bucket(bucket)
	if err != nil {
		return 0, "", "", err
	}
	if err := checkKey(key); err != nil {
		return 0, "", "", err
	}
	info, err := t.client.StatObject(ctx, b, key, minio.StatObjectOptions{})
	if err != nil {
		return 0, "", "", t.fail(ctx, "stat", b+"/"+key, err)
	}
	return info.Size, info.ETag, info.Metadata.Get(lifeHeader), nil
}

// List calls fn for every object of bucket whose key starts with prefix, in
// S3's order (ascending UTF-8 bytes), across as many listing pages as it
// takes. An error from fn stops the listing and is returned as is.
func (t *Tier) List(ctx context.Context, bucket, prefix string, fn func(key string, size int64) error) error {
	b, err := t.s3Bucket(bucket)
	if err != nil {
		return err
	}
	noOwner := false
	objects := t.client.ListObjectsIter(ctx, b, minio.ListObjectsOptions{
		Prefix:     prefix,
		Recursive:  true,
		FetchOwner: &noOwner,
	})
	for obj := range objects {
		if obj.Err != nil {
			return t.fail(ctx, "list", b+"/"+prefix+"*", obj.Err)
		}
		if err := fn(obj.Key, obj.Size); err != nil {
			return err
		}
	}
	// The iterator ends quietly when ctx does.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3tier: list %s/%s*: %w", b, prefix, err)
	}
	return nil
}

// Delete removes bucket/key. Deleting a missing key succeeds, as in S3,
// so a retried Delete whose first attempt got through still succeeds; a
// missing bucket wraps fs.ErrNotExist.
func (t *Tier) Delete(ctx context.Context, bucket, key string) error {
	b, err := t.s3Bucket(bucket)
	if err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	err = t.client.RemoveObject(ctx, b, key, minio.RemoveObjectOptions{})
	return t.fail(ctx, "delete", b+"/"+key, err)
}

// s3Bucket maps a GEDS bucket name to its S3 bucket name. S3's own naming
// rules are left to S3 (and minio-go), which name the bucket they reject.
func (t *Tier) s3Bucket(bucket string) (string, error) {
	if bucket == "" {
		return "", errors.New("s3tier: empty bucket name")
	}
	return t.prefix + bucket, nil
}

func checkKey(key string) error {
	if key == "" {
		return errors.New("s3tier: empty object key")
	}
	return nil
}

func rangeText(off, n int64) string {
	if n < 0 {
		return fmt.Sprintf("%d-", off)
	}
	return fmt.Sprintf("%d+%d", off, n)
}

// fail wraps a minio-go error with the operation and its target, classified
// (see classify); nil stays nil.
func (t *Tier) fail(ctx context.Context, op, what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("s3tier: %s %s: %w", op, what, classify(ctx, err))
}

// classify says what kind of failure err is: the caller's context ending
// (returned as the context's error), a missing object or bucket
// (fs.ErrNotExist), refused credentials (fs.ErrPermission), a refused
// condition (ErrPrecondition), an outage (ErrUnavailable), or anything else
// (err as is, not worth retrying).
func classify(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(err, ctxErr) {
			return err
		}
		return &classified{kind: ctxErr, err: err}
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return classifyResponse(resp, err)
	}
	if isNetworkFailure(err) {
		return &classified{kind: ErrUnavailable, err: err}
	}
	return err
}

// classifyResponse sorts an error S3 answered with.
func classifyResponse(resp minio.ErrorResponse, err error) error {
	switch {
	case resp.StatusCode == http.StatusPreconditionFailed, resp.Code == "PreconditionFailed":
		return &classified{kind: ErrPrecondition, err: err}
	case resp.StatusCode == http.StatusNotFound,
		resp.Code == "NoSuchKey", resp.Code == "NoSuchBucket", resp.Code == "NoSuchUpload":
		return &classified{kind: fs.ErrNotExist, err: err}
	case resp.StatusCode == http.StatusForbidden, resp.Code == "AccessDenied":
		return &classified{kind: fs.ErrPermission, err: err}
	case resp.StatusCode >= 500,
		resp.StatusCode == http.StatusRequestTimeout,
		resp.StatusCode == http.StatusTooManyRequests,
		transientCodes[resp.Code]:
		return &classified{kind: ErrUnavailable, err: err}
	}
	return err
}

// transientCodes are S3 error codes that mean "try again later" whatever
// status they come with.
var transientCodes = map[string]bool{
	"RequestTimeout":             true,
	"SlowDown":                   true,
	"SlowDownRead":               true,
	"SlowDownWrite":              true,
	"Throttling":                 true,
	"RequestThrottled":           true,
	"InternalError":              true,
	"ServiceUnavailable":         true,
	"XMinioServerNotInitialized": true,
}

// isNetworkFailure reports whether err comes from the connection rather
// than from S3's answer: refused, reset, timed out, cut short. TLS
// certificate errors and talking http to an https server are network
// errors too, but retrying does not fix them.
func isNetworkFailure(err error) bool {
	var (
		unknownAuthority x509.UnknownAuthorityError
		invalidCert      x509.CertificateInvalidError
		hostname         x509.HostnameError
		verify           *tls.CertificateVerificationError
		recordHeader     tls.RecordHeaderError
	)
	if errors.As(err, &unknownAuthority) || errors.As(err, &invalidCert) || errors.As(err, &hostname) ||
		errors.As(err, &verify) || errors.As(err, &recordHeader) ||
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return false
	}
	var netErr net.Error
	var urlErr *url.Error
	return errors.As(err, &netErr) || errors.As(err, &urlErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

// classified is an error that is both of a kind (a sentinel) and the
// original error, for errors.Is and errors.As.
type classified struct {
	kind error
	err  error
}

func (c *classified) Error() string   { return c.kind.Error() + ": " + c.err.Error() }
func (c *classified) Unwrap() []error { return []error{c.kind, c.err} }

func s3Code(err error) string {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp.Code
	}
	return ""
}

func s3Status(err error) int {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp.StatusCode
	}
	return 0
}

// objectReader is a GET's body whose read errors are classified like the
// calls' errors, so a connection cut mid-object is ErrUnavailable.
type objectReader struct {
	body io.ReadCloser
	ctx  context.Context
	what string
}

func (r *objectReader) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("s3tier: read %s: %w", r.what, classify(r.ctx, err))
	}
	return n, err
}

func (r *objectReader) Close() error { return r.body.Close() }

// source is the caller's reader as minio-go sees it: it remembers whether
// the reader failed or ended short, so Put reports that rather than the
// HTTP error it causes (which would look like an outage). It offers ReadAt
// only when the caller's reader does, so minio-go's parallel part upload
// from a file still applies.
type source struct {
	r    io.Reader
	size int64
	read int64 // bytes read through Read; Read is sequential

	mu  sync.Mutex
	err error
}

type sourceAt struct {
	*source
	ra io.ReaderAt
}

// newSource wraps r for minio-go: body is what to upload, src the
// bookkeeping behind it.
func newSource(r io.Reader, size int64) (body io.Reader, src *source) {
	src = &source{r: r, size: size}
	if ra, ok := r.(io.ReaderAt); ok {
		return sourceAt{source: src, ra: ra}, src
	}
	return src, src
}

// Read reads sequentially, stopping at size: minio-go sends what the reader
// gives, and HTTP refuses a body longer than its declared length.
func (s *source) Read(p []byte) (int, error) {
	if s.read >= s.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.size-s.read)]
	n, err := s.r.Read(p)
	s.read += int64(n)
	s.note(err, s.read)
	return n, err
}

// ReadAt reads the part at off, stopping at size like Read.
func (s sourceAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.size-off)]
	n, err := s.ra.ReadAt(p, off)
	s.note(err, off+int64(n))
	return n, err
}

// note records the first failure: an error other than EOF, or EOF before
// size bytes.
func (s *source) note(err error, end int64) {
	if err == nil || (err == io.EOF && end >= s.size) {
		return
	}
	if err == io.EOF {
		err = fmt.Errorf("reader ended after %d of %d bytes: %w", end, s.size, io.ErrUnexpectedEOF)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *source) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

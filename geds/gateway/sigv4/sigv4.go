// Package sigv4 checks AWS Signature Version 4 on requests an S3 server
// receives: the Authorization header (with a signed payload hash,
// UNSIGNED-PAYLOAD, or aws-chunked streaming uploads with per-chunk
// signatures and optional trailers) and presigned URLs (query-string
// authentication with X-Amz-Expires).
//
// It is written here because no maintained Go library verifies SigV4 on the
// server side: the AWS SDKs and minio-go only sign, and MinIO's verifier is
// part of the MinIO server's own cmd package, not a library. The algorithm
// follows the AWS S3 documentation ("Authenticating Requests (AWS Signature
// Version 4)") and the tests check it against the examples published there.
//
// Verify checks everything that is known before the body is read. The body
// is checked while it streams (Auth.Payload): a bad chunk signature or a
// payload that does not match its signed hash makes Read fail before io.EOF,
// so a consumer that only commits on io.EOF never keeps unverified data.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Values of the x-amz-content-sha256 header and of the signing algorithm.
const (
	Algorithm                = "AWS4-HMAC-SHA256"
	UnsignedPayload          = "UNSIGNED-PAYLOAD"
	StreamingPayload         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingPayloadTrailer  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	// EmptySHA256 is the hex SHA-256 of no bytes.
	EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// Limits AWS applies and so do we.
const (
	// MaxSkew is how far a request's date may be from the server's clock.
	MaxSkew = 15 * time.Minute
	// MaxPresignExpiry is the longest X-Amz-Expires accepted (7 days).
	MaxPresignExpiry = 7 * 24 * time.Hour
)

const (
	timeFormat = "20060102T150405Z"
	dateFormat = "20060102"
	terminator = "aws4_request"
	service    = "s3"
)

// S3 error codes this package reports.
const (
	CodeAccessDenied                 = "AccessDenied"
	CodeAuthorizationHeaderMalformed = "AuthorizationHeaderMalformed"
	CodeAuthorizationQueryError      = "AuthorizationQueryParametersError"
	CodeInvalidAccessKeyID           = "InvalidAccessKeyId"
	CodeSignatureDoesNotMatch        = "SignatureDoesNotMatch"
	CodeRequestTimeTooSkewed         = "RequestTimeTooSkewed"
	CodeContentSHA256Mismatch        = "XAmzContentSHA256Mismatch"
	CodeInvalidArgument              = "InvalidArgument"
	CodeInvalidRequest               = "InvalidRequest"
	CodeIncompleteBody               = "IncompleteBody"
	CodeNotImplemented               = "NotImplemented"
)

// Error is an authentication failure with the S3 error code a server should
// answer with.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return "sigv4: " + e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Config says which credentials and region requests must be signed for.
type Config struct {
	AccessKey string
	SecretKey string
	Region    string
	// Now is the server's clock; nil means time.Now.
	Now func() time.Time
}

// Verifier checks request signatures against one key pair.
type Verifier struct {
	accessKey string
	secretKey string
	region    string
	now       func() time.Time
}

// NewVerifier returns a verifier for cfg.
func NewVerifier(cfg Config) *Verifier {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Verifier{accessKey: cfg.AccessKey, secretKey: cfg.SecretKey, region: cfg.Region, now: now}
}

// Auth is what a verified request proved, and what is needed to verify its
// body.
type Auth struct {
	AccessKey string
	// Presigned is true for query-string authentication.
	Presigned bool
	// ContentSHA256 is the payload mode or hash the request was signed
	// with: a hex SHA-256, UnsignedPayload or one of the Streaming modes.
	ContentSHA256 string
	// DecodedLength is the payload length of a streaming upload
	// (x-amz-decoded-content-length), -1 if not given or not streaming.
	DecodedLength int64

	signingKey []byte
	amzDate    string
	scope      string
	signature  string   // the seed signature of a streaming upload
	trailers   []string // the trailers a streaming upload declared
}

// Streaming reports whether the body is aws-chunked.
func (a *Auth) Streaming() bool {
	switch a.ContentSHA256 {
	case StreamingPayload, StreamingPayloadTrailer, StreamingUnsignedTrailer:
		return true
	}
	return false
}

// Verify checks the request's signature, credentials and date. The body is
// not read; use Payload for it. Errors are *Error.
func (v *Verifier) Verify(r *http.Request) (*Auth, error) {
	header := r.Header.Get("Authorization")
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(CodeInvalidArgument, "query string: %v", err)
	}
	presigned := query.Has("X-Amz-Signature") || query.Has("X-Amz-Credential") || query.Has("X-Amz-Algorithm")
	switch {
	case header != "" && presigned:
		return nil, errorf(CodeInvalidArgument, "only one auth mechanism allowed; found both an Authorization header and X-Amz-Signature")
	case header != "":
		return v.verifyHeader(r, header)
	case presigned:
		return v.verifyPresigned(r, query)
	case query.Has("AWSAccessKeyId") || query.Has("Signature"):
		return nil, errorf(CodeAccessDenied, "AWS Signature Version 2 is not supported; use Signature Version 4")
	}
	return nil, errorf(CodeAccessDenied, "anonymous requests are not allowed; sign requests with AWS Signature Version 4")
}

// authorization is a parsed Authorization header.
type authorization struct {
	credential    credential
	signedHeaders []string
	signature     string
}

// credential is the access key and scope of a signature.
type credential struct {
	accessKey string
	date      string
	region    string
	service   string
}

func (c credential) scope() string {
	return c.date + "/" + c.region + "/" + c.service + "/" + terminator
}

// parseAuthorization parses
// "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=<hex>".
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	if strings.HasPrefix(h, "AWS ") {
		return a, errorf(CodeAccessDenied, "AWS Signature Version 2 is not supported; use Signature Version 4")
	}
	alg, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || alg != Algorithm {
		return a, errorf(CodeAuthorizationHeaderMalformed, "the authorization header must start with %q", Algorithm+" ")
	}
	seen := map[string]bool{}
	for field := range strings.SplitSeq(rest, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return a, errorf(CodeAuthorizationHeaderMalformed, "the authorization header field %q is not name=value", field)
		}
		if seen[name] {
			return a, errorf(CodeAuthorizationHeaderMalformed, "the authorization header repeats %s", name)
		}
		seen[name] = true
		var err error
		switch name {
		case "Credential":
			a.credential, err = parseCredential(value)
		case "SignedHeaders":
			a.signedHeaders, err = parseSignedHeaders(value)
		case "Signature":
			a.signature, err = parseSignature(value)
		default:
			err = fmt.Errorf("unknown field %q", name)
		}
		if err != nil {
			return a, errorf(CodeAuthorizationHeaderMalformed, "the authorization header is malformed: %v", err)
		}
	}
	for _, required := range []string{"Credential", "SignedHeaders", "Signature"} {
		if !seen[required] {
			return a, errorf(CodeAuthorizationHeaderMalformed, "the authorization header has no %s", required)
		}
	}
	return a, nil
}

// parseCredential parses "AK/20130524/us-east-1/s3/aws4_request". The access
// key is everything before the last four parts.
func parseCredential(s string) (credential, error) {
	parts := strings.Split(s, "/")
	n := len(parts)
	if n < 5 {
		return credential{}, fmt.Errorf("credential %q is not <access key>/<date>/<region>/<service>/aws4_request", s)
	}
	c := credential{
		accessKey: strings.Join(parts[:n-4], "/"),
		date:      parts[n-4],
		region:    parts[n-3],
		service:   parts[n-2],
	}
	if c.accessKey == "" {
		return c, fmt.Errorf("credential %q has no access key", s)
	}
	if _, err := time.Parse(dateFormat, c.date); err != nil {
		return c, fmt.Errorf("credential date %q is not YYYYMMDD", c.date)
	}
	if c.region == "" {
		return c, fmt.Errorf("credential %q has no region", s)
	}
	if parts[n-1] != terminator {
		return c, fmt.Errorf("credential %q does not end with %s", s, terminator)
	}
	return c, nil
}

// parseSignedHeaders parses "host;range;x-amz-date". Names must be lower
// case; their order is kept, since it is the order the client signed in.
func parseSignedHeaders(s string) ([]string, error) {
	if s == "" {
		return nil, errors.New("no signed headers")
	}
	names := strings.Split(s, ";")
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" || n != strings.ToLower(n) || strings.ContainsAny(n, " \t:") {
			return nil, fmt.Errorf("signed header name %q is not a lower-case header name", n)
		}
		if seen[n] {
			return nil, fmt.Errorf("signed header %q is listed twice", n)
		}
		seen[n] = true
	}
	return names, nil
}

// parseSignature checks a signature is 64 lower-case hex digits.
func parseSignature(s string) (string, error) {
	if !isHexSHA256(s) {
		return "", fmt.Errorf("signature %q is not 64 lower-case hex digits", s)
	}
	return s, nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (v *Verifier) verifyHeader(r *http.Request, header string) (*Auth, error) {
	a, err := parseAuthorization(header)
	if err != nil {
		return nil, err
	}
	if err := v.checkCredential(a.credential, CodeAuthorizationHeaderMalformed); err != nil {
		return nil, err
	}
	amzDate, t, err := requestDate(r)
	if err != nil {
		return nil, err
	}
	if t.Format(dateFormat) != a.credential.date {
		return nil, errorf(CodeSignatureDoesNotMatch, "the credential date %s is not the request date %s", a.credential.date, amzDate)
	}
	if skew := v.now().Sub(t); skew > MaxSkew || skew < -MaxSkew {
		return nil, errorf(CodeRequestTimeTooSkewed, "the difference between the request time %s and the server's time %s is too large",
			t.UTC().Format(time.RFC3339), v.now().UTC().Format(time.RFC3339))
	}
	if !slices.Contains(a.signedHeaders, "host") {
		return nil, errorf(CodeAuthorizationHeaderMalformed, "the host header must be signed")
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		return nil, errorf(CodeInvalidRequest, "missing required header for this request: x-amz-content-sha256")
	}
	if !slices.Contains(a.signedHeaders, "x-amz-content-sha256") {
		return nil, errorf(CodeAuthorizationHeaderMalformed, "the x-amz-content-sha256 header must be signed")
	}
	if err := checkAmzHeadersSigned(r, a.signedHeaders); err != nil {
		return nil, err
	}
	auth, err := v.newAuth(r, payload, amzDate, a.credential, a.signature)
	if err != nil {
		return nil, err
	}
	if err := v.checkSignature(r, auth, a.signedHeaders, canonicalQuery(r.URL.RawQuery, "")); err != nil {
		return nil, err
	}
	return auth, nil
}

func (v *Verifier) verifyPresigned(r *http.Request, q url.Values) (*Auth, error) {
	for _, name := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		if len(q[name]) != 1 {
			return nil, errorf(CodeAuthorizationQueryError, "a presigned URL needs exactly one %s parameter", name)
		}
	}
	if alg := q.Get("X-Amz-Algorithm"); alg != Algorithm {
		return nil, errorf(CodeAuthorizationQueryError, "X-Amz-Algorithm %q is not %s", alg, Algorithm)
	}
	cred, err := parseCredential(q.Get("X-Amz-Credential"))
	if err != nil {
		return nil, errorf(CodeAuthorizationQueryError, "X-Amz-Credential: %v", err)
	}
	if err := v.checkCredential(cred, CodeAuthorizationQueryError); err != nil {
		return nil, err
	}
	amzDate := q.Get("X-Amz-Date")
	t, err := time.Parse(timeFormat, amzDate)
	if err != nil {
		return nil, errorf(CodeAuthorizationQueryError, "X-Amz-Date %q is not YYYYMMDDTHHMMSSZ", amzDate)
	}
	if t.Format(dateFormat) != cred.date {
		return nil, errorf(CodeSignatureDoesNotMatch, "the credential date %s is not the request date %s", cred.date, amzDate)
	}
	expires, err := strconv.ParseInt(q.Get("X-Amz-Expires"), 10, 64)
	if err != nil || expires < 1 || time.Duration(expires)*time.Second > MaxPresignExpiry {
		return nil, errorf(CodeAuthorizationQueryError, "X-Amz-Expires %q must be a number of seconds from 1 to %d", q.Get("X-Amz-Expires"), int64(MaxPresignExpiry/time.Second))
	}
	now := v.now()
	if now.Before(t.Add(-MaxSkew)) {
		return nil, errorf(CodeAccessDenied, "request is not valid yet (X-Amz-Date %s)", amzDate)
	}
	if now.After(t.Add(time.Duration(expires) * time.Second)) {
		return nil, errorf(CodeAccessDenied, "request has expired (X-Amz-Date %s, X-Amz-Expires %d)", amzDate, expires)
	}
	signedHeaders, err := parseSignedHeaders(q.Get("X-Amz-SignedHeaders"))
	if err != nil {
		return nil, errorf(CodeAuthorizationQueryError, "X-Amz-SignedHeaders: %v", err)
	}
	if !slices.Contains(signedHeaders, "host") {
		return nil, errorf(CodeAuthorizationQueryError, "the host header must be signed")
	}
	signature, err := parseSignature(q.Get("X-Amz-Signature"))
	if err != nil {
		return nil, errorf(CodeAuthorizationQueryError, "X-Amz-Signature: %v", err)
	}
	payload := q.Get("X-Amz-Content-Sha256")
	if payload == "" && slices.Contains(signedHeaders, "x-amz-content-sha256") {
		payload = r.Header.Get("X-Amz-Content-Sha256")
	}
	if payload == "" {
		payload = UnsignedPayload
	}
	if err := checkAmzHeadersSigned(r, signedHeaders); err != nil {
		return nil, err
	}
	auth, err := v.newAuth(r, payload, amzDate, cred, signature)
	if err != nil {
		return nil, err
	}
	if auth.Streaming() {
		return nil, errorf(CodeInvalidRequest, "a presigned URL cannot carry an aws-chunked body")
	}
	auth.Presigned = true
	if err := v.checkSignature(r, auth, signedHeaders, canonicalQuery(r.URL.RawQuery, "X-Amz-Signature")); err != nil {
		return nil, err
	}
	return auth, nil
}

// checkCredential checks the access key and the scope.
func (v *Verifier) checkCredential(c credential, malformed string) error {
	if subtle.ConstantTimeCompare([]byte(c.accessKey), []byte(v.accessKey)) != 1 {
		return errorf(CodeInvalidAccessKeyID, "the access key %q does not exist", c.accessKey)
	}
	if c.region != v.region {
		return errorf(malformed, "the region %q is wrong; expecting %q", c.region, v.region)
	}
	if c.service != service {
		return errorf(malformed, "the service %q is wrong; expecting %q", c.service, service)
	}
	return nil
}

// checkAmzHeadersSigned refuses x-amz-* headers the signature does not
// cover: they change what a request does (x-amz-copy-source,
// x-amz-decoded-content-length, ...), so anyone on the path could
// otherwise add them to a signed request.
func checkAmzHeadersSigned(r *http.Request, signed []string) error {
	var unsigned []string
	for name := range r.Header {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "x-amz-") && !slices.Contains(signed, lower) {
			unsigned = append(unsigned, lower)
		}
	}
	if len(unsigned) > 0 {
		slices.Sort(unsigned)
		return errorf(CodeAccessDenied, "there were headers present in the request which were not signed: %s", strings.Join(unsigned, ", "))
	}
	return nil
}

// requestDate returns the request's date from X-Amz-Date or, failing that,
// Date, both as the string that goes into the string to sign and as a time.
func requestDate(r *http.Request) (string, time.Time, error) {
	if s := r.Header.Get("X-Amz-Date"); s != "" {
		t, err := time.Parse(timeFormat, s)
		if err != nil {
			return "", t, errorf(CodeAccessDenied, "x-amz-date %q is not YYYYMMDDTHHMMSSZ", s)
		}
		return s, t, nil
	}
	if s := r.Header.Get("Date"); s != "" {
		t, err := http.ParseTime(s)
		if err != nil {
			return "", t, errorf(CodeAccessDenied, "date %q is not an HTTP date", s)
		}
		return t.UTC().Format(timeFormat), t, nil
	}
	return "", time.Time{}, errorf(CodeAccessDenied, "AWS authentication requires a valid Date or x-amz-date header")
}

// newAuth checks the payload mode and derives the signing key.
func (v *Verifier) newAuth(r *http.Request, payload, amzDate string, c credential, signature string) (*Auth, error) {
	a := &Auth{
		AccessKey:     c.accessKey,
		ContentSHA256: payload,
		DecodedLength: -1,
		signingKey:    signingKey(v.secretKey, c.date, c.region, c.service),
		amzDate:       amzDate,
		scope:         c.scope(),
		signature:     signature,
	}
	switch {
	case payload == UnsignedPayload, isHexSHA256(payload):
	case a.Streaming():
		if s := r.Header.Get("X-Amz-Decoded-Content-Length"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return nil, errorf(CodeInvalidArgument, "x-amz-decoded-content-length %q is not a length", s)
			}
			a.DecodedLength = n
		}
		for _, v := range r.Header.Values("X-Amz-Trailer") {
			for name := range strings.SplitSeq(v, ",") {
				if name = strings.ToLower(strings.TrimSpace(name)); name != "" {
					a.trailers = append(a.trailers, name)
				}
			}
		}
		if payload != StreamingPayload && len(a.trailers) == 0 {
			return nil, errorf(CodeInvalidRequest, "x-amz-content-sha256 %s needs an x-amz-trailer header", payload)
		}
	case strings.HasPrefix(payload, "STREAMING-"):
		return nil, errorf(CodeNotImplemented, "x-amz-content-sha256 %s is not supported", payload)
	default:
		return nil, errorf(CodeInvalidArgument, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING- mode or a hex SHA-256, not %q", payload)
	}
	return a, nil
}

// checkSignature compares the request's signature with the one computed
// from it. The canonical URI is the path re-encoded the AWS way; if that
// fails and the client sent its path encoded differently, the path exactly
// as sent is tried too, since some clients sign what they send.
func (v *Verifier) checkSignature(r *http.Request, a *Auth, signedHeaders []string, query string) error {
	headers := canonicalHeaders(r, signedHeaders)
	uris := []string{canonicalURI(r.URL.Path)}
	if raw := sentPath(r); raw != uris[0] {
		uris = append(uris, raw)
	}
	for _, uri := range uris {
		creq := canonicalRequest(r.Method, uri, query, headers, signedHeaders, a.ContentSHA256)
		want := signatureOf(a.signingKey, stringToSign(a.amzDate, a.scope, creq))
		if subtle.ConstantTimeCompare([]byte(want), []byte(a.signature)) == 1 {
			return nil
		}
	}
	return errorf(CodeSignatureDoesNotMatch, "the request signature we calculated does not match the signature you provided; check your key and signing method")
}

// sentPath is the request path exactly as the client wrote it.
func sentPath(r *http.Request) string {
	p := r.RequestURI
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if p == "" || p[0] != '/' {
		return r.URL.EscapedPath()
	}
	return p
}

func stringToSign(amzDate, scope, canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

// signingKey derives the key of one day, region and service.
func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, terminator)
}

func signatureOf(key []byte, stringToSign string) string {
	return hex.EncodeToString(hmacSHA256(key, stringToSign))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

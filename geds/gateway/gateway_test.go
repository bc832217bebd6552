package gateway_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/cloudskin/cloudskin/geds/gateway"
)

const (
	testAccessKey = "GEDSTESTKEY"
	testSecretKey = "geds-test-secret-key-0123456789"
	testRegion    = "us-east-1"
)

// env is a gateway over a directory backend on a loopback listener, with
// a minio-go client signed for it.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	gw     *gateway.Gateway
	client *minio.Client
	core   minio.Core
	ctx    context.Context
}

func newEnv(t *testing.T, configure ...func(*gateway.Config)) *env {
	t.Helper()
	backend, err := gateway.NewDirBackend(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := gateway.Config{
		AccessKey: testAccessKey,
		SecretKey: testSecretKey,
		TempDir:   t.TempDir(),
		Backend:   backend,
	}
	for _, f := range configure {
		f(&cfg)
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() {
		srv.Close()
		if err := gw.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	e := &env{t: t, srv: srv, gw: gw, ctx: context.Background()}
	e.client = e.newClient(testAccessKey, testSecretKey, nil)
	e.core = minio.Core{Client: e.client}
	return e
}

func (e *env) newClient(access, secret string, configure func(*minio.Options)) *minio.Client {
	e.t.Helper()
	opts := &minio.Options{
		Creds:        credentials.NewStaticV4(access, secret, ""),
		Region:       testRegion,
		BucketLookup: minio.BucketLookupPath,
	}
	if configure != nil {
		configure(opts)
	}
	c, err := minio.New(strings.TrimPrefix(e.srv.URL, "http://"), opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) mkBucket(name string) {
	e.t.Helper()
	if err := e.client.MakeBucket(e.ctx, name, minio.MakeBucketOptions{}); err != nil {
		e.t.Fatalf("MakeBucket(%s): %v", name, err)
	}
}

func (e *env) put(bucket, key string, data []byte) minio.UploadInfo {
	e.t.Helper()
	info, err := e.client.PutObject(e.ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		e.t.Fatalf("PutObject(%s/%s): %v", bucket, key, err)
	}
	return info
}

func (e *env) get(bucket, key string, opts minio.GetObjectOptions) ([]byte, error) {
	obj, err := e.client.GetObject(e.ctx, bucket, key, opts)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	return io.ReadAll(obj)
}

// do sends a request signed by minio-go's signer, with the body's SHA-256
// as x-amz-content-sha256 unless the headers give one.
func (e *env) do(method, path string, body []byte, headers map[string]string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req = signer.SignV4(*req, testAccessKey, testSecretKey, "", testRegion)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// errorCode reads the S3 error code of a response.
func errorCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	var body struct{ Code, Message string }
	data, _ := io.ReadAll(resp.Body)
	if err := xml.Unmarshal(data, &body); err != nil {
		t.Fatalf("status %d, body %q is not an S3 error: %v", resp.StatusCode, data, err)
	}
	return body.Code
}

func code(err error) string { return minio.ToErrorResponse(err).Code }

func wantCode(t *testing.T, what string, err error, want string) {
	t.Helper()
	if got := code(err); got != want {
		t.Fatalf("%s: error %v (code %q), want %s", what, err, got, want)
	}
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func TestBuckets(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("beta")
	e.mkBucket("alpha")
	wantCode(t, "MakeBucket twice", e.client.MakeBucket(e.ctx, "alpha", minio.MakeBucketOptions{}), "BucketAlreadyOwnedByYou")

	buckets, err := e.client.ListBuckets(e.ctx)
	if err != nil || len(buckets) != 2 || buckets[0].Name != "alpha" || buckets[1].Name != "beta" {
		t.Fatalf("ListBuckets = %+v, %v", buckets, err)
	}
	if ok, err := e.client.BucketExists(e.ctx, "alpha"); !ok || err != nil {
		t.Fatalf("BucketExists(alpha) = %v, %v", ok, err)
	}
	if ok, err := e.client.BucketExists(e.ctx, "gamma"); ok || err != nil {
		t.Fatalf("BucketExists(gamma) = %v, %v", ok, err)
	}
	loc, err := e.client.GetBucketLocation(e.ctx, "alpha")
	if err != nil || loc != "us-east-1" {
		t.Fatalf("GetBucketLocation = %q, %v", loc, err)
	}
	resp := e.do("GET", "/alpha?location", nil, nil)
	if data, _ := io.ReadAll(resp.Body); !bytes.Contains(data, []byte("<LocationConstraint")) {
		t.Fatalf("GetBucketLocation body %q", data)
	}

	e.put("alpha", "k", []byte("x"))
	wantCode(t, "RemoveBucket not empty", e.client.RemoveBucket(e.ctx, "alpha"), "BucketNotEmpty")
	wantCode(t, "RemoveBucket missing", e.client.RemoveBucket(e.ctx, "gamma"), "NoSuchBucket")
	if err := e.client.RemoveObject(e.ctx, "alpha", "k", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.client.RemoveBucket(e.ctx, "alpha"); err != nil {
		t.Fatalf("RemoveBucket: %v", err)
	}

	for _, bad := range []string{"/ab", "/Upper", "/a..b", "/192.168.1.1", "/-dash", "/xn--punycode"} {
		if resp := e.do("PUT", bad, nil, nil); resp.StatusCode != 400 || errorCode(t, resp) != "InvalidBucketName" {
			t.Errorf("PUT %s: status %d, want 400 InvalidBucketName", bad, resp.StatusCode)
		}
	}
	resp = e.do("PUT", "/gamma", []byte(`<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>`), nil)
	if c := errorCode(t, resp); c != "InvalidLocationConstraint" {
		t.Fatalf("CreateBucket in another region: %s", c)
	}
}

func TestObjects(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	data := []byte("0123456789abcdefghij")

	// minio-go streams with chunk signatures over plain HTTP by default,
	// and sends UNSIGNED-PAYLOAD when asked not to hash.
	for _, opts := range []minio.PutObjectOptions{{}, {DisableContentSha256: true}, {SendContentMd5: true}} {
		info, err := e.client.PutObject(e.ctx, "bkt", "dir/obj", bytes.NewReader(data), int64(len(data)), opts)
		if err != nil {
			t.Fatalf("PutObject(%+v): %v", opts, err)
		}
		if info.ETag != md5Hex(data) {
			t.Fatalf("ETag %s, want the MD5 %s", info.ETag, md5Hex(data))
		}
	}
	got, err := e.get("bkt", "dir/obj", minio.GetObjectOptions{})
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GetObject = %q, %v", got, err)
	}
	st, err := e.client.StatObject(e.ctx, "bkt", "dir/obj", minio.StatObjectOptions{})
	if err != nil || st.Size != int64(len(data)) || st.ETag != md5Hex(data) {
		t.Fatalf("StatObject = %+v, %v", st, err)
	}

	for _, c := range []struct {
		start, end int64
		want       string
	}{
		{2, 5, "2345"},
		{15, 0, "fghij"},        // bytes=15-
		{0, -3, "hij"},          // bytes=-3
		{18, 100, "ij"},         // past the end: clipped
		{0, -100, string(data)}, // suffix longer than the object
	} {
		var opts minio.GetObjectOptions
		if err := opts.SetRange(c.start, c.end); err != nil {
			t.Fatal(err)
		}
		got, err := e.get("bkt", "dir/obj", opts)
		if err != nil || string(got) != c.want {
			t.Errorf("range %d,%d = %q, %v; want %q", c.start, c.end, got, err, c.want)
		}
	}
	resp := e.do("GET", "/bkt/dir/obj", nil, map[string]string{"Range": "bytes=3-6"})
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != "bytes 3-6/20" || string(body) != "3456" {
		t.Fatalf("ranged GET: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Range"), body)
	}
	resp = e.do("GET", "/bkt/dir/obj", nil, map[string]string{"Range": "bytes=20-"})
	if resp.StatusCode != 416 || resp.Header.Get("Content-Range") != "bytes */20" || errorCode(t, resp) != "InvalidRange" {
		t.Fatalf("unsatisfiable range: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	resp = e.do("GET", "/bkt/dir/obj", nil, map[string]string{"Range": "bytes=1-2,5-6"})
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("multi-range GET: %d %q; want the whole object", resp.StatusCode, body)
	}
	resp = e.do("HEAD", "/bkt/dir/obj", nil, map[string]string{"Range": "bytes=-5"})
	if resp.StatusCode != 206 || resp.ContentLength != 5 || resp.Header.Get("Content-Range") != "bytes 15-19/20" {
		t.Fatalf("ranged HEAD: %d, length %d, %q", resp.StatusCode, resp.ContentLength, resp.Header.Get("Content-Range"))
	}

	_, err = e.get("bkt", "nope", minio.GetObjectOptions{})
	wantCode(t, "GetObject missing key", err, "NoSuchKey")
	_, err = e.get("gone", "k", minio.GetObjectOptions{})
	wantCode(t, "GetObject missing bucket", err, "NoSuchBucket")
	_, err = e.client.PutObject(e.ctx, "gone", "k", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	wantCode(t, "PutObject missing bucket", err, "NoSuchBucket")
	resp = e.do("HEAD", "/bkt/nope", nil, nil)
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 404 || len(body) != 0 {
		t.Fatalf("HEAD of a missing key: %d with body %q", resp.StatusCode, body)
	}

	if err := e.client.RemoveObject(e.ctx, "bkt", "dir/obj", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.client.RemoveObject(e.ctx, "bkt", "dir/obj", minio.RemoveObjectOptions{}); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	_, err = e.client.StatObject(e.ctx, "bkt", "dir/obj", minio.StatObjectOptions{})
	wantCode(t, "StatObject after delete", err, "NoSuchKey")
	wantCode(t, "RemoveObject in missing bucket", e.client.RemoveObject(e.ctx, "gone", "k", minio.RemoveObjectOptions{}), "NoSuchBucket")
}

func TestConditionalGet(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	info := e.put("bkt", "k", []byte("hello"))
	etag := `"` + info.ETag + `"`
	for _, c := range []struct {
		header, value string
		status        int
	}{
		{"If-Match", etag, 200},
		{"If-Match", `"0000"`, 412},
		{"If-None-Match", etag, 304},
		{"If-None-Match", `"0000"`, 200},
		{"If-Modified-Since", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), 304},
		{"If-Unmodified-Since", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 412},
	} {
		resp := e.do("GET", "/bkt/k", nil, map[string]string{c.header: c.value})
		if resp.StatusCode != c.status {
			t.Errorf("%s: %s: status %d, want %d", c.header, c.value, resp.StatusCode, c.status)
		}
	}
}

func TestBadKeys(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	for _, c := range []struct{ path, code string }{
		{"/bkt/a/../b", "InvalidArgument"},
		{"/bkt/..", "InvalidArgument"},
		{"/bkt/a%00b", "InvalidArgument"},
		{"/bkt/" + strings.Repeat("k", 1025), "KeyTooLongError"},
	} {
		if resp := e.do("PUT", c.path, []byte("x"), nil); errorCode(t, resp) != c.code {
			t.Errorf("PUT %.40s: want %s", c.path, c.code)
		}
	}
	// Awkward but valid keys round-trip, and sign, with every character.
	for _, k := range []string{"a b+c$d&e=f", "ключ/значение", "x//y/", ".hidden/./z", "100%", "q?uery#frag"} {
		e.put("bkt", k, []byte(k))
		if got, err := e.get("bkt", k, minio.GetObjectOptions{}); err != nil || string(got) != k {
			t.Errorf("key %q: %q, %v", k, got, err)
		}
	}
}

func TestPayloadChecks(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	sum := sha256.Sum256([]byte("the signed body"))
	for _, c := range []struct {
		name    string
		headers map[string]string
		code    string
	}{
		{"signed hash of another body", map[string]string{"X-Amz-Content-Sha256": hex.EncodeToString(sum[:])}, "XAmzContentSHA256Mismatch"},
		{"wrong Content-MD5", map[string]string{"Content-Md5": "AAAAAAAAAAAAAAAAAAAAAA=="}, "BadDigest"},
		{"malformed Content-MD5", map[string]string{"Content-Md5": "abc"}, "InvalidDigest"},
		{"wrong CRC32C", map[string]string{"X-Amz-Checksum-Crc32c": "AAAAAA=="}, "BadDigest"},
	} {
		resp := e.do("PUT", "/bkt/k", []byte("the body actually sent"), c.headers)
		if got := errorCode(t, resp); got != c.code {
			t.Errorf("%s: %s, want %s", c.name, got, c.code)
		}
	}
	if _, err := e.client.StatObject(e.ctx, "bkt", "k", minio.StatObjectOptions{}); code(err) != "NoSuchKey" {
		t.Fatalf("a refused body was stored: %v", err)
	}
	// The right CRC32C (of "the body actually sent") is accepted and echoed.
	var crc [4]byte
	binary.BigEndian.PutUint32(crc[:], crc32.ChecksumIEEE([]byte("the body actually sent")))
	right := base64.StdEncoding.EncodeToString(crc[:])
	resp := e.do("PUT", "/bkt/k", []byte("the body actually sent"), map[string]string{"X-Amz-Checksum-Crc32": right})
	if resp.StatusCode != 200 || resp.Header.Get("X-Amz-Checksum-Crc32") != right {
		t.Fatalf("right CRC32: %d %q", resp.StatusCode, resp.Header.Get("X-Amz-Checksum-Crc32"))
	}
}

// tamperTransport flips one byte of the body of PUT requests after
// minio-go signed them.
type tamperTransport struct{ at int }

func (tt tamperTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.Body != nil {
		r.Body = &flipReader{r: r.Body, at: tt.at}
	}
	return http.DefaultTransport.RoundTrip(r)
}

type flipReader struct {
	r    io.ReadCloser
	at   int
	seen int
}

func (f *flipReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if f.at >= f.seen && f.at < f.seen+n {
		p[f.at-f.seen] ^= 1
	}
	f.seen += n
	return n, err
}

func (f *flipReader) Close() error { return f.r.Close() }

func TestStreamingSignatureTampered(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	data := randomBytes(t, 200<<10) // four 64 KiB chunks
	for _, at := range []int{200, 100 << 10, len(data)} {
		c := e.newClient(testAccessKey, testSecretKey, func(o *minio.Options) { o.Transport = tamperTransport{at: at} })
		_, err := c.PutObject(e.ctx, "bkt", "k", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
		if got := code(err); got != "SignatureDoesNotMatch" && got != "IncompleteBody" && got != "InvalidRequest" {
			t.Errorf("byte %d flipped: error %v (code %q), want a refused body", at, err, got)
		}
	}
	if _, err := e.client.StatObject(e.ctx, "bkt", "k", minio.StatObjectOptions{}); code(err) != "NoSuchKey" {
		t.Fatalf("a tampered body was stored: %v", err)
	}
}

func TestTrailingChecksums(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	c := e.newClient(testAccessKey, testSecretKey, func(o *minio.Options) { o.TrailingHeaders = true })
	for _, size := range []int{1000, 6 << 20} {
		data := randomBytes(t, size)
		for _, opts := range []minio.PutObjectOptions{{PartSize: 5 << 20}, {PartSize: 5 << 20, DisableContentSha256: true}} {
			if _, err := c.PutObject(e.ctx, "bkt", "k", bytes.NewReader(data), int64(size), opts); err != nil {
				t.Fatalf("PutObject with trailing checksums, %d bytes, %+v: %v", size, opts, err)
			}
			if got, err := e.get("bkt", "k", minio.GetObjectOptions{}); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes, %v", len(got), err)
			}
		}
	}
}

func TestMultipart(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	data := randomBytes(t, 15<<20)
	info, err := e.client.PutObject(e.ctx, "bkt", "big", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var sums []byte
	for i := range 3 {
		s := md5.Sum(data[i*5<<20 : (i+1)*5<<20])
		sums = append(sums, s[:]...)
	}
	if want := md5Hex(sums) + "-3"; info.ETag != want {
		t.Fatalf("multipart ETag %s, want %s", info.ETag, want)
	}
	if got, err := e.get("bkt", "big", minio.GetObjectOptions{}); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
	var opts minio.GetObjectOptions
	_ = opts.SetRange(5<<20-10, 5<<20+9) // across the first part boundary
	if got, err := e.get("bkt", "big", opts); err != nil || !bytes.Equal(got, data[5<<20-10:5<<20+10]) {
		t.Fatalf("range across parts: %d bytes, %v", len(got), err)
	}
}

func TestMultipartErrors(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	part1, part2 := randomBytes(t, 5<<20), []byte("tail")
	id, err := e.core.NewMultipartUpload(e.ctx, "bkt", "obj", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := e.core.PutObjectPart(e.ctx, "bkt", "obj", id, 1, bytes.NewReader(part1), int64(len(part1)), minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := e.core.PutObjectPart(e.ctx, "bkt", "obj", id, 2, bytes.NewReader(part2), int64(len(part2)), minio.PutObjectPartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p1.ETag != md5Hex(part1) || p2.ETag != md5Hex(part2) {
		t.Fatalf("part ETags %s %s", p1.ETag, p2.ETag)
	}
	parts, err := e.core.ListObjectParts(e.ctx, "bkt", "obj", id, 0, 1000)
	if err != nil || len(parts.ObjectParts) != 2 || parts.ObjectParts[1].Size != 4 {
		t.Fatalf("ListObjectParts = %+v, %v", parts, err)
	}
	uploads, err := e.core.ListMultipartUploads(e.ctx, "bkt", "", "", "", "", 1000)
	if err != nil || len(uploads.Uploads) != 1 || uploads.Uploads[0].UploadID != id {
		t.Fatalf("ListMultipartUploads = %+v, %v", uploads, err)
	}

	c1 := minio.CompletePart{PartNumber: 1, ETag: p1.ETag}
	c2 := minio.CompletePart{PartNumber: 2, ETag: p2.ETag}
	for _, c := range []struct {
		parts []minio.CompletePart
		code  string
	}{
		{[]minio.CompletePart{c2, c1}, "InvalidPartOrder"},
		{[]minio.CompletePart{c1, {PartNumber: 2, ETag: md5Hex(part1)}}, "InvalidPart"},
		{[]minio.CompletePart{c1, {PartNumber: 3, ETag: p2.ETag}}, "InvalidPart"},
		{[]minio.CompletePart{c2, {PartNumber: 3, ETag: p2.ETag}}, "InvalidPart"},
	} {
		_, err := e.core.CompleteMultipartUpload(e.ctx, "bkt", "obj", id, c.parts, minio.PutObjectOptions{})
		wantCode(t, fmt.Sprintf("Complete(%v)", c.parts), err, c.code)
	}
	// A small part that is not the last is refused.
	small, err := e.core.NewMultipartUpload(e.ctx, "bkt", "obj", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := e.core.PutObjectPart(e.ctx, "bkt", "obj", small, 1, bytes.NewReader(part2), 4, minio.PutObjectPartOptions{})
	s2, _ := e.core.PutObjectPart(e.ctx, "bkt", "obj", small, 2, bytes.NewReader(part2), 4, minio.PutObjectPartOptions{})
	_, err = e.core.CompleteMultipartUpload(e.ctx, "bkt", "obj", small,
		[]minio.CompletePart{{PartNumber: 1, ETag: s1.ETag}, {PartNumber: 2, ETag: s2.ETag}}, minio.PutObjectOptions{})
	wantCode(t, "Complete with a small first part", err, "EntityTooSmall")

	// The upload survived the failed attempts and completes.
	res, err := e.core.CompleteMultipartUpload(e.ctx, "bkt", "obj", id, []minio.CompletePart{c1, c2}, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.get("bkt", "obj", minio.GetObjectOptions{}); err != nil || !bytes.Equal(got, append(part1, part2...)) {
		t.Fatalf("completed object: %d bytes, %v (%+v)", len(got), err, res)
	}
	_, err = e.core.PutObjectPart(e.ctx, "bkt", "obj", id, 3, bytes.NewReader(part2), 4, minio.PutObjectPartOptions{})
	wantCode(t, "UploadPart after Complete", err, "NoSuchUpload")

	if err := e.core.AbortMultipartUpload(e.ctx, "bkt", "obj", small); err != nil {
		t.Fatal(err)
	}
	_, err = e.core.PutObjectPart(e.ctx, "bkt", "obj", small, 3, bytes.NewReader(part2), 4, minio.PutObjectPartOptions{})
	wantCode(t, "UploadPart after Abort", err, "NoSuchUpload")
	wantCode(t, "Abort twice", e.core.AbortMultipartUpload(e.ctx, "bkt", "obj", small), "NoSuchUpload")
	_, err = e.core.NewMultipartUpload(e.ctx, "gone", "obj", minio.PutObjectOptions{})
	wantCode(t, "upload into a missing bucket", err, "NoSuchBucket")
	resp := e.do("POST", "/bkt/obj?uploadId="+id, []byte("<CompleteMultipartUpload><Part>"), nil)
	if c := errorCode(t, resp); c != "NoSuchUpload" {
		t.Fatalf("Complete of a finished upload: %s", c)
	}
	another, _ := e.core.NewMultipartUpload(e.ctx, "bkt", "obj", minio.PutObjectOptions{})
	resp = e.do("POST", "/bkt/obj?uploadId="+another, []byte("<CompleteMultipartUpload><Part>"), nil)
	if c := errorCode(t, resp); c != "MalformedXML" {
		t.Fatalf("Complete with a broken body: %s", c)
	}
}

func TestMultipartAbortRemovesParts(t *testing.T) {
	tmp := t.TempDir()
	e := newEnv(t, func(c *gateway.Config) { c.TempDir = tmp })
	e.mkBucket("bkt")
	id, err := e.core.NewMultipartUpload(e.ctx, "bkt", "obj", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.core.PutObjectPart(e.ctx, "bkt", "obj", id, 1, strings.NewReader("part"), 4, minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	if entries := readDir(t, tmp); len(entries) != 1 {
		t.Fatalf("temp dir holds %v, want one upload", entries)
	}
	if err := e.core.AbortMultipartUpload(e.ctx, "bkt", "obj", id); err != nil {
		t.Fatal(err)
	}
	if entries := readDir(t, tmp); len(entries) != 0 {
		t.Fatalf("temp dir holds %v after abort", entries)
	}
	// Close removes unfinished uploads too.
	if _, err := e.core.NewMultipartUpload(e.ctx, "bkt", "obj", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.gw.Close(); err != nil {
		t.Fatal(err)
	}
	if entries := readDir(t, tmp); len(entries) != 0 {
		t.Fatalf("temp dir holds %v after Close", entries)
	}
}

func TestPresigned(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	e.put("bkt", "doc.txt", []byte("presigned content"))

	u, err := e.client.PresignedGetObject(e.ctx, "bkt", "doc.txt", time.Hour, url.Values{"response-content-type": {"text/plain"}})
	if err != nil {
		t.Fatal(err)
	}
	resp := httpGet(t, u.String())
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "presigned content" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("presigned GET: %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
	tampered := strings.Replace(u.String(), "doc.txt", "doc.txu", 1)
	if resp := httpGet(t, tampered); errorCode(t, resp) != "SignatureDoesNotMatch" {
		t.Fatal("a presigned URL for another key was accepted")
	}

	pu, err := e.client.PresignedPutObject(e.ctx, "bkt", "up.txt", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", pu.String(), strings.NewReader("uploaded"))
	presp, err := http.DefaultClient.Do(req)
	if err != nil || presp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %v %v", presp, err)
	}
	presp.Body.Close()
	if got, err := e.get("bkt", "up.txt", minio.GetObjectOptions{}); err != nil || string(got) != "uploaded" {
		t.Fatalf("presigned PUT stored %q, %v", got, err)
	}

	// On a gateway whose clock is two hours ahead, a one-hour URL signed
	// now has expired.
	later := newEnv(t, func(c *gateway.Config) { c.Now = func() time.Time { return time.Now().Add(2 * time.Hour) } })
	expired, err := later.client.PresignedGetObject(e.ctx, "bkt", "doc.txt", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp := httpGet(t, expired.String()); resp.StatusCode != 403 || errorCode(t, resp) != "AccessDenied" {
		t.Fatal("an expired presigned URL was not AccessDenied")
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	_, err := e.newClient(testAccessKey, "wrong-secret", nil).ListBuckets(e.ctx)
	wantCode(t, "wrong secret", err, "SignatureDoesNotMatch")
	_, err = e.newClient("UNKNOWNKEY", testSecretKey, nil).ListBuckets(e.ctx)
	wantCode(t, "unknown access key", err, "InvalidAccessKeyId")
	resp := httpGet(t, e.srv.URL+"/bkt")
	if resp.StatusCode != 403 || errorCode(t, resp) != "AccessDenied" {
		t.Fatalf("anonymous request: %d", resp.StatusCode)
	}

	skewed := newEnv(t, func(c *gateway.Config) { c.Now = func() time.Time { return time.Now().Add(20 * time.Minute) } })
	_, err = skewed.client.ListBuckets(e.ctx)
	wantCode(t, "clock 20 minutes off", err, "RequestTimeTooSkewed")
	nearly := newEnv(t, func(c *gateway.Config) { c.Now = func() time.Time { return time.Now().Add(10 * time.Minute) } })
	if _, err := nearly.client.ListBuckets(e.ctx); err != nil {
		t.Fatalf("clock 10 minutes off: %v", err)
	}

	other := newEnv(t, func(c *gateway.Config) { c.Region = "eu-central-1" })
	_, err = other.client.ListBuckets(e.ctx) // signed for us-east-1
	wantCode(t, "wrong region", err, "AuthorizationHeaderMalformed")
}

func TestCopyAndMultiDelete(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("src")
	e.mkBucket("dst")
	e.put("src", "a/1", []byte("one"))
	_, err := e.client.CopyObject(e.ctx, minio.CopyDestOptions{Bucket: "dst", Object: "copy of 1"}, minio.CopySrcOptions{Bucket: "src", Object: "a/1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.get("dst", "copy of 1", minio.GetObjectOptions{}); err != nil || string(got) != "one" {
		t.Fatalf("copy = %q, %v", got, err)
	}
	_, err = e.client.CopyObject(e.ctx, minio.CopyDestOptions{Bucket: "dst", Object: "x"}, minio.CopySrcOptions{Bucket: "src", Object: "nope"})
	wantCode(t, "copy of a missing key", err, "NoSuchKey")

	for i := range 5 {
		e.put("src", fmt.Sprintf("a/%d", i), []byte{byte(i)})
	}
	objects := make(chan minio.ObjectInfo, 10)
	for _, k := range []string{"a/0", "a/1", "a/2", "never-existed"} {
		objects <- minio.ObjectInfo{Key: k}
	}
	close(objects)
	for rerr := range e.client.RemoveObjects(e.ctx, "src", objects, minio.RemoveObjectsOptions{}) {
		t.Errorf("RemoveObjects: %s: %v", rerr.ObjectName, rerr.Err)
	}
	var left []string
	for o := range e.client.ListObjects(e.ctx, "src", minio.ListObjectsOptions{Recursive: true}) {
		left = append(left, o.Key)
	}
	if strings.Join(left, ",") != "a/3,a/4" {
		t.Fatalf("after multi-delete: %v", left)
	}
	resp := e.do("POST", "/src?delete", []byte(`<Delete><Object><Key>a/3</Key></Object><Object><Key>bad/../key</Key></Object></Delete>`), nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("<Deleted><Key>a/3</Key></Deleted>")) || !bytes.Contains(body, []byte("<Code>InvalidArgument</Code>")) {
		t.Fatalf("DeleteObjects answer %d %s", resp.StatusCode, body)
	}
}

func TestUnsupported(t *testing.T) {
	e := newEnv(t)
	e.mkBucket("bkt")
	for _, c := range []struct{ method, path, code string }{
		{"GET", "/bkt?policy", "NotImplemented"},
		{"PUT", "/bkt?tagging", "NotImplemented"},
		{"POST", "/bkt/k?select", "NotImplemented"},
		{"PATCH", "/bkt/k", "MethodNotAllowed"},
		{"DELETE", "/", "MethodNotAllowed"},
	} {
		if got := errorCode(t, e.do(c.method, c.path, nil, nil)); got != c.code {
			t.Errorf("%s %s: %s, want %s", c.method, c.path, got, c.code)
		}
	}
	resp := e.do("GET", "/bkt?versioning", nil, nil)
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || !bytes.Contains(body, []byte("VersioningConfiguration")) {
		t.Fatalf("GetBucketVersioning: %d %s", resp.StatusCode, body)
	}
	resp = e.do("GET", "/bkt?acl", nil, nil)
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || !bytes.Contains(body, []byte("FULL_CONTROL")) || !bytes.Contains(body, []byte(`xsi:type="CanonicalUser"`)) {
		t.Fatalf("GetBucketAcl: %d %s", resp.StatusCode, body)
	}
}

func TestNewValidates(t *testing.T) {
	b, err := gateway.NewDirBackend(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []gateway.Config{
		{SecretKey: "s", Backend: b},
		{AccessKey: "a", Backend: b},
		{AccessKey: "a", SecretKey: "s"},
	} {
		if _, err := gateway.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
	g, err := gateway.New(gateway.Config{AccessKey: "a", SecretKey: "s", Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatalf("Close of a gateway with its own temp dir: %v", err)
	}
}

func httpGet(t *testing.T, link string) *http.Response {
	t.Helper()
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// plainBackend hides which of bucket or key is missing, as a backend may:
// every not-found is a bare fs.ErrNotExist.
type plainBackend struct{ gateway.Backend }

func plain(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("not found: %w", fs.ErrNotExist)
	}
	return err
}

func (p plainBackend) GetObject(ctx context.Context, b, k string, off, n int64) (io.ReadCloser, gateway.ObjectInfo, error) {
	rc, info, err := p.Backend.GetObject(ctx, b, k, off, n)
	return rc, info, plain(err)
}

func (p plainBackend) HeadObject(ctx context.Context, b, k string) (gateway.ObjectInfo, error) {
	info, err := p.Backend.HeadObject(ctx, b, k)
	return info, plain(err)
}

func (p plainBackend) DeleteObject(ctx context.Context, b, k string) error {
	return plain(p.Backend.DeleteObject(ctx, b, k))
}

func TestBackendWithPlainNotFound(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.Backend = plainBackend{c.Backend} })
	e.mkBucket("bkt")
	_, err := e.get("bkt", "nope", minio.GetObjectOptions{})
	wantCode(t, "missing key", err, "NoSuchKey")
	_, err = e.get("gone", "nope", minio.GetObjectOptions{})
	wantCode(t, "missing bucket", err, "NoSuchBucket")
	if err := e.client.RemoveObject(e.ctx, "bkt", "nope", minio.RemoveObjectOptions{}); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
	wantCode(t, "delete in a missing bucket", e.client.RemoveObject(e.ctx, "gone", "k", minio.RemoveObjectOptions{}), "NoSuchBucket")
}

package gateway

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"strings"

	"github.com/cloudskin/cloudskin/geds/gateway/sigv4"
)

// maxPutSize is S3's limit on one PutObject and on one part.
const maxPutSize = 5 << 30

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	// nvme is CRC-64/NVME (reflected polynomial 0x9a6c9329ac4bc9b5); Go's
	// crc64 applies the same initial and final inversion.
	nvme = crc64.MakeTable(0x9a6c9329ac4bc9b5)
)

// checksumHashes are the additional checksums S3 clients may send, as a
// header or as an aws-chunked trailer.
var checksumHashes = map[string]func() hash.Hash{
	"x-amz-checksum-crc32":     func() hash.Hash { return crc32.NewIEEE() },
	"x-amz-checksum-crc32c":    func() hash.Hash { return crc32.New(castagnoli) },
	"x-amz-checksum-crc64nvme": func() hash.Hash { return crc64.New(nvme) },
	"x-amz-checksum-sha1":      sha1.New,
	"x-amz-checksum-sha256":    sha256.New,
}

// body is a request body with every integrity check S3 makes: the
// signature's (through sigv4.Payload), the declared length, Content-MD5 and
// an x-amz-checksum-* header or trailer. All are checked when the payload
// ends; a failure is returned by Read in place of io.EOF, so a backend
// that only commits on io.EOF keeps nothing that failed. The first failure
// is remembered so the answer names it even if the backend wraps it away.
type body struct {
	payload *sigv4.Payload
	size    int64 // declared length, -1 unknown
	n       int64

	md5     hash.Hash // nil unless Content-MD5 was sent
	wantMD5 []byte

	sumName string    // x-amz-checksum-* to check, "" for none
	sum     hash.Hash // its hash
	wantSum string    // base64 value from the header; "" means from the trailer
	gotSum  string    // computed value, once the body ended

	probe [1]byte
	err   error // sticky: io.EOF or the first failure
}

// openBody wraps the request body for reading. checksumHeaders says
// whether x-amz-checksum-* headers are the body's (not for a Complete,
// where they are the whole object's).
func openBody(c *call, checksumHeaders bool) (*body, error) {
	b := &body{payload: c.auth.Payload(c.r.Body), size: c.r.ContentLength}
	if c.auth.Streaming() {
		b.size = c.auth.DecodedLength
	}
	if b.size > maxPutSize {
		return nil, apiErrorf("EntityTooLarge", "the body is %d bytes; the largest allowed is %d", b.size, int64(maxPutSize))
	}
	if v := c.r.Header.Get("Content-Md5"); v != "" {
		want, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(want) != md5.Size {
			return nil, apiErrorf("InvalidDigest", "the Content-MD5 %q is not a base64 MD5", v)
		}
		b.md5, b.wantMD5 = md5.New(), want
	}
	for name := range checksumHashes {
		if v := c.r.Header.Get(name); v != "" && checksumHeaders {
			if b.sumName != "" {
				return nil, apiErrorf("InvalidRequest", "expecting a single x-amz-checksum- header, got %s and %s", b.sumName, name)
			}
			b.sumName, b.wantSum = name, v
		}
	}
	if b.sumName == "" && c.auth.Streaming() {
		for _, v := range c.r.Header.Values("X-Amz-Trailer") {
			for name := range strings.SplitSeq(v, ",") {
				name = strings.ToLower(strings.TrimSpace(name))
				if _, ok := checksumHashes[name]; ok {
					b.sumName = name
				}
			}
		}
	}
	if b.sumName != "" {
		b.sum = checksumHashes[b.sumName]()
	}
	return b, nil
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.payload.Read(p)
	b.count(p[:n])
	if e := b.checkLength(); e != nil {
		return n, b.fail(e)
	}
	if err == nil && b.size >= 0 && b.n == b.size {
		// Everything declared has arrived: look for the end now, so the
		// end checks run even for a reader that stops at size bytes.
		var m int
		m, err = b.payload.Read(b.probe[:])
		b.count(b.probe[:m])
		if e := b.checkLength(); e != nil {
			return n, b.fail(e)
		}
	}
	if err == io.EOF {
		if e := b.finish(); e != nil {
			return n, b.fail(e)
		}
		b.err = io.EOF
		return n, io.EOF
	}
	if err != nil {
		return n, b.fail(err)
	}
	return n, nil
}

func (b *body) count(p []byte) {
	b.n += int64(len(p))
	if b.md5 != nil {
		b.md5.Write(p)
	}
	if b.sum != nil {
		b.sum.Write(p)
	}
}

func (b *body) checkLength() error {
	if b.size >= 0 && b.n > b.size {
		return apiErrorf("InvalidRequest", "the body is longer than its declared length %d", b.size)
	}
	if b.n > maxPutSize {
		return apiErrorf("EntityTooLarge", "the body is over the limit of %d bytes", int64(maxPutSize))
	}
	return nil
}

// finish runs the checks that need the whole body.
func (b *body) finish() error {
	if b.size >= 0 && b.n != b.size {
		return apiErrorf("IncompleteBody", "the body has %d bytes; %d were declared", b.n, b.size)
	}
	if b.md5 != nil && !bytes.Equal(b.md5.Sum(nil), b.wantMD5) {
		return apiErrorf("BadDigest", "the Content-MD5 you specified did not match what we received")
	}
	if b.sum != nil {
		b.gotSum = base64.StdEncoding.EncodeToString(b.sum.Sum(nil))
		want := b.wantSum
		if want == "" {
			want = b.payload.Trailer().Get(b.sumName)
		}
		if want != b.gotSum {
			return apiErrorf("BadDigest", "the %s you specified (%q) did not match the calculated checksum %q", b.sumName, want, b.gotSum)
		}
	}
	return nil
}

func (b *body) fail(err error) error {
	b.err = err
	return err
}

// cause returns the body's own failure if it had one, else err: a backend
// may wrap the reader's error with %w, or not.
func (b *body) cause(err error) error {
	if b.err != nil && b.err != io.EOF {
		return b.err
	}
	return err
}

// readSmallBody reads a body the gateway parses itself (XML), refusing
// more than limit bytes.
func readSmallBody(c *call, limit int64, checksumHeaders bool) ([]byte, error) {
	b, err := openBody(c, checksumHeaders)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(b, limit+1))
	if err != nil {
		return nil, b.cause(err)
	}
	if int64(len(data)) > limit {
		return nil, apiErrorf("MalformedXML", "the request body is over %d bytes", limit)
	}
	return data, nil
}

// setChecksumHeader echoes a verified checksum, as S3 does.
func (b *body) setChecksumHeader(c *call) {
	if b.gotSum != "" {
		c.w.Header().Set(b.sumName, b.gotSum)
	}
}

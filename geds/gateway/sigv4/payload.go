package sigv4

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
)

// Payload is a request body as the client meant it: aws-chunked framing
// removed, and everything the signature covers checked while it streams.
// Read returns an *Error instead of io.EOF when the body does not match
// what was signed, so io.EOF means every byte was verified.
type Payload struct {
	r       io.Reader
	chunked *chunkedReader
}

// Payload wraps the request body according to how it was signed.
func (a *Auth) Payload(body io.Reader) *Payload {
	switch {
	case a.Streaming():
		c := newChunkedReader(body, a)
		return &Payload{r: c, chunked: c}
	case isHexSHA256(a.ContentSHA256):
		return &Payload{r: &hashCheckReader{r: body, h: sha256.New(), want: a.ContentSHA256}}
	}
	return &Payload{r: body}
}

func (p *Payload) Read(b []byte) (int, error) { return p.r.Read(b) }

// Trailer returns the trailing headers of a streaming upload once Read has
// returned io.EOF; nil otherwise.
func (p *Payload) Trailer() http.Header {
	if p.chunked == nil {
		return nil
	}
	return p.chunked.trailer
}

// hashCheckReader passes a body through and, at its end, checks it against
// the signed SHA-256.
type hashCheckReader struct {
	r    io.Reader
	h    hash.Hash
	want string
	err  error
}

func (c *hashCheckReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	if err == io.EOF {
		got := hex.EncodeToString(c.h.Sum(nil))
		if subtle.ConstantTimeCompare([]byte(got), []byte(c.want)) != 1 {
			err = errorf(CodeContentSHA256Mismatch, "the provided x-amz-content-sha256 %s does not match the body's SHA-256 %s", c.want, got)
		}
	}
	if err != nil {
		c.err = err
	}
	return n, err
}

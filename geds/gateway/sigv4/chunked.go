package sigv4

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The aws-chunked body of a streaming upload is
//
//	<hex size>;chunk-signature=<64 hex>\r\n<data>\r\n   (repeated)
//	0;chunk-signature=<64 hex>\r\n
//	[<trailer name>:<value>\r\n ... x-amz-trailer-signature:<64 hex>\r\n]
//	\r\n
//
// Unsigned trailer uploads leave out every ";chunk-signature=" and the
// trailer signature. Each chunk signature signs the previous one (the first,
// the request's seed signature) and the SHA-256 of the chunk's data.

const (
	// maxChunkSize bounds one chunk's declared size (the largest S3 part);
	// data is streamed, never buffered, so this only rejects nonsense.
	maxChunkSize = 5 << 30
	// maxTrailerBytes bounds the trailer section.
	maxTrailerBytes = 16 << 10
	// readBufferSize is also the longest chunk header line accepted.
	readBufferSize = 64 << 10

	chunkStringPrefix   = "AWS4-HMAC-SHA256-PAYLOAD"
	trailerStringPrefix = "AWS4-HMAC-SHA256-TRAILER"
	trailerSignature    = "x-amz-trailer-signature"
	chunkSignature      = "chunk-signature="
)

// chunkedReader decodes an aws-chunked body and verifies it as it goes.
// Verification is eager: the Read that returns the last byte of a chunk has
// already checked that chunk's signature, and the Read that returns the
// last byte of the body has checked the final chunk and the trailers, and
// returns io.EOF with it.
type chunkedReader struct {
	br       *bufio.Reader
	signed   bool
	trailers bool // trailers expected after the final chunk
	declared []string
	key      []byte
	amzDate  string
	scope    string
	prevSig  string
	want     int64 // decoded length, -1 unknown

	inData    bool
	remaining int64 // bytes of the current chunk not yet read
	chunkSig  string
	sha       hash.Hash
	decoded   int64
	trailer   http.Header
	err       error // sticky; io.EOF once done
}

func newChunkedReader(body io.Reader, a *Auth) *chunkedReader {
	return &chunkedReader{
		br:       bufio.NewReaderSize(body, readBufferSize),
		signed:   a.ContentSHA256 != StreamingUnsignedTrailer,
		trailers: a.ContentSHA256 != StreamingPayload,
		declared: a.trailers,
		key:      a.signingKey,
		amzDate:  a.amzDate,
		scope:    a.scope,
		prevSig:  a.signature,
		want:     a.DecodedLength,
		sha:      sha256.New(),
	}
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if !c.inData {
		if err := c.nextChunk(); err != nil {
			return 0, c.fail(err)
		}
		if c.err == io.EOF {
			return 0, io.EOF
		}
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.br.Read(p)
	if c.signed {
		c.sha.Write(p[:n])
	}
	c.remaining -= int64(n)
	c.decoded += int64(n)
	if err == io.EOF {
		return n, c.fail(errorf(CodeIncompleteBody, "the body ended inside a chunk"))
	}
	if err != nil {
		return n, c.fail(err)
	}
	if c.want >= 0 && c.decoded > c.want {
		return n, c.fail(errorf(CodeInvalidRequest, "the chunks hold more than x-amz-decoded-content-length (%d) bytes", c.want))
	}
	if c.remaining == 0 {
		if err := c.endChunk(); err != nil {
			return n, c.fail(err)
		}
		if err := c.nextChunk(); err != nil {
			return n, c.fail(err)
		}
		if c.err == io.EOF {
			return n, io.EOF
		}
	}
	return n, nil
}

func (c *chunkedReader) fail(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = errorf(CodeIncompleteBody, "the aws-chunked body ended early")
	}
	c.err = err
	return err
}

// nextChunk reads a chunk header. A zero-size chunk ends the body: it and
// the trailers are verified and the reader is done (c.err = io.EOF).
func (c *chunkedReader) nextChunk() error {
	line, err := c.readLine()
	if err != nil {
		return err
	}
	size, sig, err := parseChunkHeader(line, c.signed)
	if err != nil {
		return err
	}
	c.chunkSig = sig
	c.sha.Reset()
	if size > 0 {
		c.inData, c.remaining = true, size
		return nil
	}
	c.inData = false
	if err := c.verifyChunk(); err != nil {
		return err
	}
	if err := c.readEnd(); err != nil {
		return err
	}
	if c.want >= 0 && c.decoded != c.want {
		return errorf(CodeIncompleteBody, "the chunks hold %d bytes, x-amz-decoded-content-length says %d", c.decoded, c.want)
	}
	c.err = io.EOF
	return nil
}

// endChunk reads the CRLF after a chunk's data and verifies the chunk.
func (c *chunkedReader) endChunk() error {
	var crlf [2]byte
	if _, err := io.ReadFull(c.br, crlf[:]); err != nil {
		return err
	}
	if crlf != [2]byte{'\r', '\n'} {
		return errorf(CodeInvalidRequest, "a chunk's data is not followed by CRLF")
	}
	c.inData = false
	return c.verifyChunk()
}

// verifyChunk checks the current chunk's signature against its data.
func (c *chunkedReader) verifyChunk() error {
	if !c.signed {
		return nil
	}
	sts := chunkStringPrefix + "\n" + c.amzDate + "\n" + c.scope + "\n" + c.prevSig + "\n" +
		EmptySHA256 + "\n" + hex.EncodeToString(c.sha.Sum(nil))
	want := signatureOf(c.key, sts)
	if subtle.ConstantTimeCompare([]byte(want), []byte(c.chunkSig)) != 1 {
		return errorf(CodeSignatureDoesNotMatch, "the chunk signature after %d bytes does not match", c.decoded)
	}
	c.prevSig = c.chunkSig
	return nil
}

// readLine reads one CRLF-terminated line and returns it without the CRLF.
func (c *chunkedReader) readLine() (string, error) {
	line, err := c.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", errorf(CodeInvalidRequest, "a chunk header is longer than %d bytes", readBufferSize)
	}
	if err != nil {
		return "", err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return "", errorf(CodeInvalidRequest, "a chunk header does not end with CRLF")
	}
	return string(line[:len(line)-2]), nil
}

// parseChunkHeader parses "<hex size>;chunk-signature=<sig>" (signed) or
// "<hex size>[;extensions]" (unsigned).
func parseChunkHeader(line string, signed bool) (int64, string, error) {
	sizeHex, ext, hasExt := strings.Cut(line, ";")
	if sizeHex == "" || len(sizeHex) > 16 {
		return 0, "", errorf(CodeInvalidRequest, "chunk header %.80q has no hex size", line)
	}
	size, err := strconv.ParseUint(sizeHex, 16, 64)
	if err != nil {
		return 0, "", errorf(CodeInvalidRequest, "chunk size %.20q is not hex", sizeHex)
	}
	if size > maxChunkSize {
		return 0, "", errorf(CodeInvalidRequest, "chunk size %d is over the limit of %d", size, int64(maxChunkSize))
	}
	if !signed {
		return int64(size), "", nil
	}
	sig, ok := strings.CutPrefix(ext, chunkSignature)
	if !hasExt || !ok || !isHexSHA256(sig) {
		return 0, "", errorf(CodeInvalidRequest, "chunk header %.120q has no chunk-signature", line)
	}
	return int64(size), sig, nil
}

// readEnd reads what follows the final chunk's header: an empty line
// without trailers, the trailer lines with them. Lines may end in LF or
// CRLF and blank lines are skipped, since clients differ there.
func (c *chunkedReader) readEnd() error {
	rest, err := io.ReadAll(io.LimitReader(c.br, maxTrailerBytes+1))
	if err != nil {
		return err
	}
	if len(rest) > maxTrailerBytes {
		return errorf(CodeInvalidRequest, "more than %d bytes follow the final chunk", maxTrailerBytes)
	}
	if !c.trailers {
		if len(rest) != 0 && !bytes.Equal(rest, []byte("\r\n")) {
			return errorf(CodeInvalidRequest, "data follows the final chunk")
		}
		return nil
	}
	return c.parseTrailers(rest)
}

func (c *chunkedReader) parseTrailers(section []byte) error {
	c.trailer = http.Header{}
	var signed strings.Builder // the trailers as signed: "name:value\n" each
	var sig string
	for raw := range strings.SplitSeq(string(section), "\n") {
		line := strings.TrimSuffix(raw, "\r")
		if line == "" {
			continue
		}
		if sig != "" {
			return errorf(CodeInvalidRequest, "a trailer follows %s", trailerSignature)
		}
		name, value, ok := strings.Cut(line, ":")
		name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
		if !ok || value == "" {
			return errorf(CodeInvalidRequest, "trailer line %.80q is not name:value", line)
		}
		if name == trailerSignature {
			if !c.signed || !isHexSHA256(value) {
				return errorf(CodeInvalidRequest, "unexpected or malformed %s", trailerSignature)
			}
			sig = value
			continue
		}
		if !slices.Contains(c.declared, name) {
			return errorf(CodeInvalidRequest, "trailer %q was not declared in x-amz-trailer", name)
		}
		if len(c.trailer.Values(name)) > 0 {
			return errorf(CodeInvalidRequest, "trailer %q is repeated", name)
		}
		c.trailer.Set(name, value)
		signed.WriteString(name + ":" + value + "\n")
	}
	for _, name := range c.declared {
		if len(c.trailer.Values(name)) == 0 {
			return errorf(CodeIncompleteBody, "declared trailer %q is missing", name)
		}
	}
	if !c.signed {
		return nil
	}
	if sig == "" {
		return errorf(CodeSignatureDoesNotMatch, "the trailers are not signed")
	}
	sum := sha256.Sum256([]byte(signed.String()))
	sts := trailerStringPrefix + "\n" + c.amzDate + "\n" + c.scope + "\n" + c.prevSig + "\n" + hex.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(signatureOf(c.key, sts)), []byte(sig)) != 1 {
		return errorf(CodeSignatureDoesNotMatch, "the trailer signature does not match")
	}
	return nil
}

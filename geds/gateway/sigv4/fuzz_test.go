package sigv4

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("a", 64))
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/20130524/r/s3/aws4_request,SignedHeaders=host,Signature=" + strings.Repeat("0", 64))
	f.Add("AWS AK:sig")
	f.Add("AWS4-HMAC-SHA256 ,,,=")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseAuthorization(h)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not *Error", err)
			}
			return
		}
		if !isHexSHA256(a.signature) || len(a.signedHeaders) == 0 || a.credential.accessKey == "" {
			t.Fatalf("accepted %q as %+v", h, a)
		}
		again := Algorithm + " Credential=" + a.credential.accessKey + "/" + a.credential.scope() +
			", SignedHeaders=" + strings.Join(a.signedHeaders, ";") + ", Signature=" + a.signature
		b, err := parseAuthorization(again)
		if err != nil || b.credential != a.credential || b.signature != a.signature ||
			strings.Join(b.signedHeaders, ";") != strings.Join(a.signedHeaders, ";") {
			t.Fatalf("re-parse of %q: %+v, %v; first %+v", again, b, err, a)
		}
	})
}

// FuzzChunkedUnsigned decodes arbitrary bodies as unsigned aws-chunked with
// a CRC32 trailer: it must never panic, must fail with an *Error or the
// body's own error, and whatever it accepts must be framed consistently.
func FuzzChunkedUnsigned(f *testing.F) {
	f.Add([]byte("3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n"))
	f.Add([]byte("3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\n\r\n\r\n"))
	f.Add([]byte("1;ext=1\r\nx\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n"))
	f.Add([]byte("ffffffffffffffff\r\n"))
	f.Add([]byte("0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		a := &Auth{ContentSHA256: StreamingUnsignedTrailer, DecodedLength: -1, trailers: []string{"x-amz-checksum-crc32"}}
		p := a.Payload(bytes.NewReader(body))
		out, err := io.ReadAll(p)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not *Error", err)
			}
			return
		}
		if len(out) > len(body) {
			t.Fatalf("decoded %d bytes from a %d-byte body", len(out), len(body))
		}
		if p.Trailer().Get("x-amz-checksum-crc32") == "" {
			t.Fatalf("accepted %q without its declared trailer", body)
		}
	})
}

// FuzzChunkedSigned decodes arbitrary bodies against the signed AWS
// streaming example: only the documented body may be accepted.
func FuzzChunkedSigned(f *testing.F) {
	r, body := docChunked(false)
	a, err := docVerifier(docTime).Verify(r)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	f.Add(body[:200])
	f.Add([]byte("10000;chunk-signature=" + strings.Repeat("0", 64) + "\r\n"))
	want := bytes.Repeat([]byte("a"), 66560)
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := io.ReadAll(a.Payload(bytes.NewReader(b)))
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not *Error", err)
			}
			return
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("accepted a forged body decoding to %d bytes", len(out))
		}
	})
}

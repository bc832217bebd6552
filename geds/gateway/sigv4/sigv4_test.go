package sigv4

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The examples of the AWS S3 documentation, "Signature Calculations for the
// Authorization Header: Transferring Payload in a Single Chunk", "...in
// Multiple Chunks", "Signature calculations for trailing headers" and
// "Authenticating Requests: Using Query Parameters".
const (
	docAccessKey = "AKIAIOSFODNN7EXAMPLE"
	docSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	docRegion    = "us-east-1"
	docDate      = "20130524T000000Z"
	docScope     = "20130524/us-east-1/s3/aws4_request"
)

var docTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

func docVerifier(now time.Time) *Verifier {
	return NewVerifier(Config{AccessKey: docAccessKey, SecretKey: docSecretKey, Region: docRegion, Now: func() time.Time { return now }})
}

func docAuthorization(signedHeaders, signature string) string {
	return "AWS4-HMAC-SHA256 Credential=" + docAccessKey + "/" + docScope + ",SignedHeaders=" + signedHeaders + ",Signature=" + signature
}

// docExample is one single-chunk example: the request, and the canonical
// request, string to sign and signature the documentation prints.
type docExample struct {
	name          string
	method, url   string
	headers       map[string]string
	body          string
	signedHeaders string
	canonical     string
	stringToSign  string
	signature     string
}

var docExamples = []docExample{
	{
		name:   "GET object with Range",
		method: "GET", url: "http://examplebucket.s3.amazonaws.com/test.txt",
		headers: map[string]string{
			"Range":                "bytes=0-9",
			"X-Amz-Content-Sha256": EmptySHA256,
			"X-Amz-Date":           docDate,
		},
		signedHeaders: "host;range;x-amz-content-sha256;x-amz-date",
		canonical: "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n" +
			"x-amz-content-sha256:" + EmptySHA256 + "\nx-amz-date:20130524T000000Z\n\n" +
			"host;range;x-amz-content-sha256;x-amz-date\n" + EmptySHA256,
		stringToSign: "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n" +
			"7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
		signature: "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
	},
	{
		name:   "PUT object",
		method: "PUT", url: "http://examplebucket.s3.amazonaws.com/test$file.text",
		headers: map[string]string{
			"Date":                 "Fri, 24 May 2013 00:00:00 GMT",
			"X-Amz-Date":           docDate,
			"X-Amz-Storage-Class":  "REDUCED_REDUNDANCY",
			"X-Amz-Content-Sha256": "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
		},
		body:          "Welcome to Amazon S3.",
		signedHeaders: "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
		canonical: "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\nhost:examplebucket.s3.amazonaws.com\n" +
			"x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n" +
			"x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n" +
			"date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n" +
			"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
		stringToSign: "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n" +
			"9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
		signature: "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
	},
	{
		name:   "GET bucket lifecycle",
		method: "GET", url: "http://examplebucket.s3.amazonaws.com/?lifecycle",
		headers: map[string]string{
			"X-Amz-Content-Sha256": EmptySHA256,
			"X-Amz-Date":           docDate,
		},
		signedHeaders: "host;x-amz-content-sha256;x-amz-date",
		canonical: "GET\n/\nlifecycle=\nhost:examplebucket.s3.amazonaws.com\n" +
			"x-amz-content-sha256:" + EmptySHA256 + "\nx-amz-date:20130524T000000Z\n\n" +
			"host;x-amz-content-sha256;x-amz-date\n" + EmptySHA256,
		signature: "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
	},
	{
		name:   "GET bucket (list objects)",
		method: "GET", url: "http://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J",
		headers: map[string]string{
			"X-Amz-Content-Sha256": EmptySHA256,
			"X-Amz-Date":           docDate,
		},
		signedHeaders: "host;x-amz-content-sha256;x-amz-date",
		canonical: "GET\n/\nmax-keys=2&prefix=J\nhost:examplebucket.s3.amazonaws.com\n" +
			"x-amz-content-sha256:" + EmptySHA256 + "\nx-amz-date:20130524T000000Z\n\n" +
			"host;x-amz-content-sha256;x-amz-date\n" + EmptySHA256,
		stringToSign: "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n" +
			"df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
		signature: "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
	},
}

func (e docExample) request() *http.Request {
	r := httptest.NewRequest(e.method, e.url, strings.NewReader(e.body))
	for k, v := range e.headers {
		r.Header.Set(k, v)
	}
	r.Header.Set("Authorization", docAuthorization(e.signedHeaders, e.signature))
	return r
}

func TestDocExamplesCanonicalRequest(t *testing.T) {
	key := signingKey(docSecretKey, "20130524", docRegion, "s3")
	for _, e := range docExamples {
		t.Run(e.name, func(t *testing.T) {
			r := e.request()
			signed := strings.Split(e.signedHeaders, ";")
			creq := canonicalRequest(r.Method, canonicalURI(r.URL.Path), canonicalQuery(r.URL.RawQuery, ""),
				canonicalHeaders(r, signed), signed, e.headers["X-Amz-Content-Sha256"])
			if creq != e.canonical {
				t.Fatalf("canonical request:\n%s\nwant:\n%s", creq, e.canonical)
			}
			sts := stringToSign(docDate, docScope, creq)
			if e.stringToSign != "" && sts != e.stringToSign {
				t.Fatalf("string to sign:\n%s\nwant:\n%s", sts, e.stringToSign)
			}
			if sig := signatureOf(key, sts); sig != e.signature {
				t.Fatalf("signature %s, want %s", sig, e.signature)
			}
		})
	}
}

func TestDocExamplesVerify(t *testing.T) {
	for _, e := range docExamples {
		t.Run(e.name, func(t *testing.T) {
			r := e.request()
			a, err := docVerifier(docTime).Verify(r)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if a.AccessKey != docAccessKey || a.Presigned {
				t.Fatalf("auth = %+v", a)
			}
			body, err := io.ReadAll(a.Payload(r.Body))
			if err != nil || string(body) != e.body {
				t.Fatalf("payload = %q, %v; want %q", body, err, e.body)
			}
		})
	}
}

func TestPresignedDocExample(t *testing.T) {
	const url = "http://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
		"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
		"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
	r := httptest.NewRequest("GET", url, nil)
	creq := canonicalRequest("GET", canonicalURI(r.URL.Path), canonicalQuery(r.URL.RawQuery, "X-Amz-Signature"),
		canonicalHeaders(r, []string{"host"}), []string{"host"}, UnsignedPayload)
	const wantCreq = "GET\n/test.txt\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\nhost:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD"
	if creq != wantCreq {
		t.Fatalf("canonical request:\n%s\nwant:\n%s", creq, wantCreq)
	}
	const wantSTS = "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04"
	if sts := stringToSign(docDate, docScope, creq); sts != wantSTS {
		t.Fatalf("string to sign:\n%s\nwant:\n%s", sts, wantSTS)
	}

	for _, c := range []struct {
		name string
		now  time.Time
		code string
	}{
		{"at signing", docTime, ""},
		{"last valid second", docTime.Add(86400 * time.Second), ""},
		{"expired", docTime.Add(86401 * time.Second), CodeAccessDenied},
		{"within skew before signing", docTime.Add(-MaxSkew), ""},
		{"not valid yet", docTime.Add(-MaxSkew - time.Second), CodeAccessDenied},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := docVerifier(c.now).Verify(httptest.NewRequest("GET", url, nil))
			checkCode(t, err, c.code)
			if err == nil && !a.Presigned {
				t.Fatal("auth not marked presigned")
			}
		})
	}
}

// docChunked builds the streaming examples: 65536 and 1024 bytes of 'a'
// in two chunks, with or without a CRC32C trailer.
func docChunked(trailer bool) (*http.Request, []byte) {
	seed := "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
	sigs := []string{
		"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
		"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
		"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
	}
	signed := "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class"
	payload := StreamingPayload
	if trailer {
		seed = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
		sigs = []string{
			"b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
			"1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
			"2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
		}
		signed = "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer"
		payload = StreamingPayloadTrailer
	}
	var b bytes.Buffer
	b.WriteString("10000;chunk-signature=" + sigs[0] + "\r\n")
	b.Write(bytes.Repeat([]byte("a"), 65536))
	b.WriteString("\r\n400;chunk-signature=" + sigs[1] + "\r\n")
	b.Write(bytes.Repeat([]byte("a"), 1024))
	b.WriteString("\r\n0;chunk-signature=" + sigs[2] + "\r\n")
	if trailer {
		b.WriteString("x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n")
	}
	b.WriteString("\r\n")
	body := b.Bytes()
	r := httptest.NewRequest("PUT", "http://s3.amazonaws.com/examplebucket/chunkObject.txt", bytes.NewReader(body))
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Content-Sha256", payload)
	r.Header.Set("X-Amz-Date", docDate)
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	if trailer {
		r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32c")
	}
	r.Header.Set("Authorization", docAuthorization(signed, seed))
	return r, body
}

func TestStreamingDocExample(t *testing.T) {
	for _, trailer := range []bool{false, true} {
		r, body := docChunked(trailer)
		if !trailer && len(body) != 66824 {
			t.Fatalf("encoded length %d, the documentation says 66824", len(body))
		}
		a, err := docVerifier(docTime).Verify(r)
		if err != nil {
			t.Fatalf("trailer=%v: Verify: %v", trailer, err)
		}
		if !a.Streaming() || a.DecodedLength != 66560 {
			t.Fatalf("trailer=%v: auth = %+v", trailer, a)
		}
		p := a.Payload(r.Body)
		got, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("trailer=%v: read: %v", trailer, err)
		}
		if !bytes.Equal(got, bytes.Repeat([]byte("a"), 66560)) {
			t.Fatalf("trailer=%v: decoded %d bytes, not 66560 a's", trailer, len(got))
		}
		if trailer && p.Trailer().Get("x-amz-checksum-crc32c") != "sOO8/Q==" {
			t.Fatalf("trailer = %v", p.Trailer())
		}
	}
}

// TestStreamingTampered changes the documented streaming body in ways
// each of which must fail the read, never reach io.EOF.
func TestStreamingTampered(t *testing.T) {
	for _, c := range []struct {
		name    string
		trailer bool
		change  func([]byte) []byte
		code    string
	}{
		{"data byte in first chunk", false, func(b []byte) []byte { b[100] = 'b'; return b }, CodeSignatureDoesNotMatch},
		{"data byte in last chunk", false, func(b []byte) []byte { b[len(b)-200] = 'b'; return b }, CodeSignatureDoesNotMatch},
		{"final chunk signature", false, func(b []byte) []byte {
			return bytes.Replace(b, []byte("b6c6ea8a"), []byte("b6c6ea8b"), 1)
		}, CodeSignatureDoesNotMatch},
		{"truncated in data", false, func(b []byte) []byte { return b[:1000] }, CodeIncompleteBody},
		{"final chunk missing", false, func(b []byte) []byte { return b[:bytes.LastIndex(b, []byte("0;chunk"))] }, CodeIncompleteBody},
		{"junk after final chunk", false, func(b []byte) []byte { return append(b, "xyz"...) }, CodeInvalidRequest},
		{"trailer value", true, func(b []byte) []byte {
			return bytes.Replace(b, []byte("sOO8/Q=="), []byte("sOO8/Q=A"), 1)
		}, CodeSignatureDoesNotMatch},
		{"trailer signature missing", true, func(b []byte) []byte {
			i := bytes.Index(b, []byte("x-amz-trailer-signature"))
			return append(b[:i:i], "\r\n"...)
		}, CodeSignatureDoesNotMatch},
		{"undeclared trailer", true, func(b []byte) []byte {
			return bytes.Replace(b, []byte("x-amz-checksum-crc32c:"), []byte("x-amz-checksum-crc32:"), 1)
		}, CodeInvalidRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, body := docChunked(c.trailer)
			a, err := docVerifier(docTime).Verify(r)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadAll(a.Payload(bytes.NewReader(c.change(body))))
			checkCode(t, err, c.code)
		})
	}
}

func TestDecodedLengthMismatch(t *testing.T) {
	r, body := docChunked(false)
	r.Header.Set("X-Amz-Decoded-Content-Length", "66561")
	// The header is signed, so re-signing is not possible; check the
	// decoder alone with the auth the original request produced.
	r2, _ := docChunked(false)
	a, err := docVerifier(docTime).Verify(r2)
	if err != nil {
		t.Fatal(err)
	}
	a.DecodedLength = 66561
	_, err = io.ReadAll(a.Payload(bytes.NewReader(body)))
	checkCode(t, err, CodeIncompleteBody)
	a.DecodedLength = 100
	_, err = io.ReadAll(a.Payload(bytes.NewReader(body)))
	checkCode(t, err, CodeInvalidRequest)
	if _, err := docVerifier(docTime).Verify(r); err == nil {
		t.Fatal("changed signed header accepted")
	}
}

func TestVerifyRefuses(t *testing.T) {
	get := docExamples[0]
	for _, c := range []struct {
		name   string
		now    time.Time
		change func(r *http.Request)
		code   string
	}{
		{"other method", docTime, func(r *http.Request) { r.Method = "DELETE" }, CodeSignatureDoesNotMatch},
		{"other path", docTime, func(r *http.Request) { r.URL.Path = "/test2.txt"; r.RequestURI = "/test2.txt" }, CodeSignatureDoesNotMatch},
		{"added query", docTime, func(r *http.Request) { r.URL.RawQuery = "acl" }, CodeSignatureDoesNotMatch},
		{"other host", docTime, func(r *http.Request) { r.Host = "evil.example" }, CodeSignatureDoesNotMatch},
		{"other range", docTime, func(r *http.Request) { r.Header.Set("Range", "bytes=0-10") }, CodeSignatureDoesNotMatch},
		{"unsigned amz header", docTime, func(r *http.Request) { r.Header.Set("X-Amz-Copy-Source", "/b/k") }, CodeAccessDenied},
		{"unknown access key", docTime, func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), docAccessKey, "AKIDOTHER", 1))
		}, CodeInvalidAccessKeyID},
		{"other region", docTime, func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "us-east-1", "eu-west-1", 1))
		}, CodeAuthorizationHeaderMalformed},
		{"signature version 2", docTime, func(r *http.Request) { r.Header.Set("Authorization", "AWS AKID:c2ln") }, CodeAccessDenied},
		{"garbage authorization", docTime, func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 nonsense") }, CodeAuthorizationHeaderMalformed},
		{"no payload hash", docTime, func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") }, CodeInvalidRequest},
		{"no date", docTime, func(r *http.Request) { r.Header.Del("X-Amz-Date") }, CodeAccessDenied},
		{"anonymous", docTime, func(r *http.Request) { r.Header.Del("Authorization") }, CodeAccessDenied},
		{"clock 15 min ahead", docTime.Add(MaxSkew), func(*http.Request) {}, ""},
		{"clock 15 min behind", docTime.Add(-MaxSkew), func(*http.Request) {}, ""},
		{"clock skewed ahead", docTime.Add(MaxSkew + time.Second), func(*http.Request) {}, CodeRequestTimeTooSkewed},
		{"clock skewed behind", docTime.Add(-MaxSkew - time.Second), func(*http.Request) {}, CodeRequestTimeTooSkewed},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := get.request()
			c.change(r)
			_, err := docVerifier(c.now).Verify(r)
			checkCode(t, err, c.code)
		})
	}
}

func TestPayloadHashMismatch(t *testing.T) {
	put := docExamples[1]
	r := put.request()
	a, err := docVerifier(docTime).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(a.Payload(strings.NewReader("Welcome to Amazon S4.")))
	checkCode(t, err, CodeContentSHA256Mismatch)
}

func TestParseAuthorization(t *testing.T) {
	good := "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("a", 64)
	a, err := parseAuthorization(good)
	if err != nil {
		t.Fatal(err)
	}
	if a.credential.accessKey != "AK" || a.credential.scope() != "20130524/us-east-1/s3/aws4_request" ||
		strings.Join(a.signedHeaders, ";") != "host;x-amz-date" || a.signature != strings.Repeat("a", 64) {
		t.Fatalf("parsed %+v", a)
	}
	for _, bad := range []string{
		"",
		"AWS4-HMAC-SHA256",
		"AWS4-HMAC-SHA1 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + strings.Repeat("a", 64),
		"AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host",
		"AWS4-HMAC-SHA256 Credential=AK/2013/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + strings.Repeat("a", 64),
		"AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws5_request, SignedHeaders=host, Signature=" + strings.Repeat("a", 64),
		"AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + strings.Repeat("a", 64),
		"AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=Host, Signature=" + strings.Repeat("a", 64),
		"AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;host, Signature=" + strings.Repeat("a", 64),
		"AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + strings.Repeat("A", 64),
		"AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=abc",
		"AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + strings.Repeat("a", 64),
		"AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=" + strings.Repeat("a", 64) + ", Extra=1",
	} {
		if _, err := parseAuthorization(bad); err == nil {
			t.Errorf("parseAuthorization(%q) accepted", bad)
		}
	}
}

func TestCanonicalQueryAndEncoding(t *testing.T) {
	for _, c := range []struct{ raw, want string }{
		{"", ""},
		{"acl", "acl="},
		{"b=2&a=x+y&a=%2B&c=", "a=%2B&a=x%20y&b=2&c="},
		{"prefix=a%2Fb&delimiter=%2F&list-type=2", "delimiter=%2F&list-type=2&prefix=a%2Fb"},
		{"k=%E2%82%AC~._-", "k=%E2%82%AC~._-"},
	} {
		if got := canonicalQuery(c.raw, ""); got != c.want {
			t.Errorf("canonicalQuery(%q) = %q, want %q", c.raw, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"/b/a b", "/b/a%20b"},
		{"/b/a+b$c", "/b/a%2Bb%24c"},
		{"/b/ключ", "/b/%D0%BA%D0%BB%D1%8E%D1%87"},
		{"/b//x/./y", "/b//x/./y"},
		{"", "/"},
	} {
		if got := canonicalURI(c.in); got != c.want {
			t.Errorf("canonicalURI(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	r := httptest.NewRequest("GET", "http://h/", nil)
	r.Header["X-Multi"] = []string{"  a   b ", "c"}
	if got := headerValue(r, "x-multi"); got != "a b,c" {
		t.Errorf("headerValue = %q", got)
	}
	if r.Header["X-Multi"][0] != "  a   b " {
		t.Error("headerValue changed the request's header")
	}
}

func checkCode(t *testing.T, err error, code string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v, want code %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("error %v, want code %s", err, code)
	}
}

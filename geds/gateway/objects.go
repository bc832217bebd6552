package gateway

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

func (g *Gateway) putObject(c *call) error {
	b, err := openBody(c, true)
	if err != nil {
		return err
	}
	info, err := g.backend.PutObject(c.ctx, c.bucket, c.key, b, b.size)
	if err != nil {
		if cause := b.cause(err); cause != err {
			return cause
		}
		return g.putError(c, err)
	}
	c.w.Header().Set("ETag", quoteETag(info.ETag))
	b.setChecksumHeader(c)
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// putError maps a backend error of a write: the only thing that can be
// missing is the bucket.
func (g *Gateway) putError(c *call, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return noSuchBucket(c.bucket)
	}
	return fmt.Errorf("geds gateway: put %s/%s: %w", c.bucket, c.key, err)
}

// getObject answers GET and HEAD of an object, with a Range if asked.
func (g *Gateway) getObject(c *call) error {
	head := c.r.Method == http.MethodHead
	rng, ranged := byteRange{}, false
	if h := c.r.Header.Get("Range"); h != "" {
		rng, ranged = parseRange(h)
	}
	if !ranged {
		if head {
			info, err := g.backend.HeadObject(c.ctx, c.bucket, c.key)
			if err != nil {
				return g.objectError(c, err)
			}
			return g.sendObject(c, nil, info, 0, info.Size, false)
		}
		rc, info, err := g.backend.GetObject(c.ctx, c.bucket, c.key, 0, -1)
		if err != nil {
			return g.objectError(c, err)
		}
		defer rc.Close()
		return g.sendObject(c, rc, info, 0, info.Size, false)
	}
	// A range needs the size first. The object may be replaced between
	// the two calls; then the range is resolved again on the new one.
	for range 3 {
		info, err := g.backend.HeadObject(c.ctx, c.bucket, c.key)
		if err != nil {
			return g.objectError(c, err)
		}
		if err := checkPreconditions(c, info); err != nil {
			return err
		}
		off, n, ok := rng.resolve(info.Size)
		if !ok {
			c.w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(info.Size, 10))
			return apiErrorf("InvalidRange", "the requested range is not satisfiable for an object of %d bytes", info.Size)
		}
		if head {
			return g.sendObject(c, nil, info, off, n, true)
		}
		rc, got, err := g.backend.GetObject(c.ctx, c.bucket, c.key, off, n)
		if err != nil {
			return g.objectError(c, err)
		}
		if got.ETag != info.ETag || got.Size != info.Size {
			rc.Close()
			continue
		}
		defer rc.Close()
		return g.sendObject(c, rc, got, off, n, true)
	}
	return apiErrorf("ServiceUnavailable", "the object changed while its range was read; try again")
}

// sendObject writes an object's headers and, for GET, its bytes.
func (g *Gateway) sendObject(c *call, r io.Reader, info ObjectInfo, off, n int64, partial bool) error {
	if err := checkPreconditions(c, info); err != nil {
		return err
	}
	h := c.w.Header()
	setObjectHeaders(c, info)
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	status := http.StatusOK
	if partial {
		h.Set("Content-Range", contentRange(off, n, info.Size))
		status = http.StatusPartialContent
	}
	c.w.WriteHeader(status)
	if r == nil {
		return nil
	}
	if _, err := io.Copy(c.w, r); err != nil {
		// The status is sent; all we can do is cut the body short.
		g.log.Debug("geds gateway: object body cut short", "bucket", c.bucket, "key", c.key, "err", err)
	}
	return nil
}

// responseOverrides are the query parameters a (presigned) GET may use to
// set headers of the answer.
var responseOverrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

func setObjectHeaders(c *call, info ObjectInfo) {
	h := c.w.Header()
	h.Set("ETag", quoteETag(info.ETag))
	h.Set("Last-Modified", info.ModTime.UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", "application/octet-stream")
	for param, header := range responseOverrides {
		if v := c.query.Get(param); v != "" {
			h.Set(header, v)
		}
	}
}

// checkPreconditions applies If-Match, If-Unmodified-Since, If-None-Match
// and If-Modified-Since the way S3 does (RFC 9110 precedence).
func checkPreconditions(c *call, info ObjectInfo) error {
	h := c.r.Header
	etag := quoteETag(info.ETag)
	mod := info.ModTime.Truncate(time.Second)
	if v := h.Get("If-Match"); v != "" {
		if !etagMatches(v, etag) {
			return apiErrorf("PreconditionFailed", "If-Match %s does not match the object's ETag %s", v, etag)
		}
	} else if t, err := http.ParseTime(h.Get("If-Unmodified-Since")); err == nil && mod.After(t) {
		return apiErrorf("PreconditionFailed", "the object was modified after %s", t.Format(http.TimeFormat))
	}
	notModified := false
	if v := h.Get("If-None-Match"); v != "" {
		notModified = etagMatches(v, etag)
	} else if t, err := http.ParseTime(h.Get("If-Modified-Since")); err == nil && !mod.After(t) {
		notModified = true
	}
	if notModified {
		return errNotModified{info}
	}
	return nil
}

// errNotModified answers 304; it is not an S3 error body.
type errNotModified struct{ info ObjectInfo }

func (errNotModified) Error() string { return "not modified" }

func etagMatches(list, etag string) bool {
	for candidate := range strings.SplitSeq(list, ",") {
		candidate = strings.TrimPrefix(strings.TrimSpace(candidate), "W/")
		if candidate == "*" || quoteETag(candidate) == etag {
			return true
		}
	}
	return false
}

func (g *Gateway) deleteObject(c *call) error {
	if err := g.backend.DeleteObject(c.ctx, c.bucket, c.key); err != nil {
		if errors.Is(err, ErrNoSuchBucket) {
			return noSuchBucket(c.bucket)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("geds gateway: delete %s/%s: %w", c.bucket, c.key, err)
		}
		// Deleting a missing key succeeds, unless the bucket is missing.
		if !errors.Is(err, ErrNoSuchKey) {
			if err := g.needBucket(c.ctx, c.bucket); err != nil {
				return err
			}
		}
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// tier answers POST ?persist and ?spill through the Backend's Tiering.
func (g *Gateway) tier(c *call, spill bool) error {
	t, ok := g.backend.(Tiering)
	if !ok {
		return apiErrorf("NotImplemented", "this gateway's backend has no persistency tier")
	}
	op, verb := t.Persist, "persist"
	if spill {
		op, verb = t.Spill, "spill"
	}
	if err := op(c.ctx, c.bucket, c.key); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if err := g.needBucket(c.ctx, c.bucket); err != nil {
				return err
			}
			return apiErrorf("NoSuchKey", "%s/%s does not exist", c.bucket, c.key)
		}
		return fmt.Errorf("geds gateway: %s %s/%s: %w", verb, c.bucket, c.key, err)
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

type copyObjectResult struct {
	XMLName      xml.Name `xml:"CopyObjectResult"`
	Xmlns        string   `xml:"xmlns,attr"`
	LastModified string
	ETag         string
}

// copyObject copies through the gateway: the backend has no copy, and
// GEDS objects are immutable, so a server-side copy is a read and a write.
func (g *Gateway) copyObject(c *call) error {
	srcBucket, srcKey, err := parseCopySource(c.r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return err
	}
	rc, src, err := g.backend.GetObject(c.ctx, srcBucket, srcKey, 0, -1)
	if err != nil {
		return g.objectError(&call{w: c.w, r: c.r, ctx: c.ctx, bucket: srcBucket, key: srcKey}, err)
	}
	defer rc.Close()
	if v := c.r.Header.Get("X-Amz-Copy-Source-If-Match"); v != "" && !etagMatches(v, quoteETag(src.ETag)) {
		return apiErrorf("PreconditionFailed", "x-amz-copy-source-if-match %s does not match %s", v, quoteETag(src.ETag))
	}
	if v := c.r.Header.Get("X-Amz-Copy-Source-If-None-Match"); v != "" && etagMatches(v, quoteETag(src.ETag)) {
		return apiErrorf("PreconditionFailed", "x-amz-copy-source-if-none-match %s matches %s", v, quoteETag(src.ETag))
	}
	info, err := g.backend.PutObject(c.ctx, c.bucket, c.key, rc, src.Size)
	if err != nil {
		return g.putError(c, err)
	}
	writeXML(c.w, http.StatusOK, copyObjectResult{Xmlns: s3Namespace, LastModified: s3Time(info.ModTime), ETag: quoteETag(info.ETag)})
	return nil
}

// parseCopySource parses "bucket/key" or "/bucket/key", URL-encoded, with
// an optional "?versionId=" that only "null" may fill.
func parseCopySource(v string) (bucket, key string, err error) {
	path, query, _ := strings.Cut(v, "?")
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil || (q.Get("versionId") != "" && q.Get("versionId") != "null") {
			return "", "", apiErrorf("InvalidArgument", "x-amz-copy-source %q names a version; versioning is not supported", v)
		}
	}
	path, err = url.PathUnescape(path)
	if err != nil {
		return "", "", apiErrorf("InvalidArgument", "x-amz-copy-source %q is not URL-encoded: %v", v, err)
	}
	bucket, key, _ = strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if err := checkBucketName(bucket); err != nil {
		return "", "", err
	}
	if err := checkKey(key); err != nil {
		return "", "", err
	}
	return bucket, key, nil
}

type deleteRequest struct {
	XMLName xml.Name `xml:"Delete"`
	Quiet   bool
	Objects []struct {
		Key       string
		VersionID string `xml:"VersionId"`
	} `xml:"Object"`
}

type deleteResult struct {
	XMLName xml.Name        `xml:"DeleteResult"`
	Xmlns   string          `xml:"xmlns,attr"`
	Deleted []deletedEntry  `xml:"Deleted"`
	Errors  []deleteFailure `xml:"Error"`
}

type deletedEntry struct{ Key string }

type deleteFailure struct {
	Key     string
	Code    string
	Message string
}

// maxDeleteObjects is S3's limit on keys in one DeleteObjects.
const maxDeleteObjects = 1000

func (g *Gateway) deleteObjects(c *call) error {
	data, err := readSmallBody(c, 2<<20, true)
	if err != nil {
		return err
	}
	var req deleteRequest
	if err := xml.Unmarshal(data, &req); err != nil {
		return apiErrorf("MalformedXML", "Delete: %v", err)
	}
	if len(req.Objects) == 0 || len(req.Objects) > maxDeleteObjects {
		return apiErrorf("MalformedXML", "Delete must name 1 to %d objects, not %d", maxDeleteObjects, len(req.Objects))
	}
	if err := g.needBucket(c.ctx, c.bucket); err != nil {
		return err
	}
	res := deleteResult{Xmlns: s3Namespace}
	for _, o := range req.Objects {
		err := checkKey(o.Key)
		if err == nil && o.VersionID != "" && o.VersionID != "null" {
			err = apiErrorf("NoSuchVersion", "versioning is not supported")
		}
		if err == nil {
			err = g.backend.DeleteObject(c.ctx, c.bucket, o.Key)
			if errors.Is(err, fs.ErrNotExist) && !errors.Is(err, ErrNoSuchBucket) {
				err = nil
			}
		}
		if err != nil {
			code, msg := g.classify(c, err)
			if code == "InternalError" {
				g.log.Error("geds gateway: delete in DeleteObjects", "bucket", c.bucket, "key", o.Key, "err", err)
			}
			res.Errors = append(res.Errors, deleteFailure{Key: o.Key, Code: code, Message: msg})
			continue
		}
		if !req.Quiet {
			res.Deleted = append(res.Deleted, deletedEntry{Key: o.Key})
		}
	}
	writeXML(c.w, http.StatusOK, res)
	return nil
}

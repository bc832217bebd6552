package gateway

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxListKeys is S3's page size limit.
const maxListKeys = 1000

// lastRune is the largest code point: every valid UTF-8 key that starts
// with p and is not p+lastRune+... sorts before p+lastRune, so listing
// after it skips the keys a common prefix p rolled up.
const lastRune = "\U0010FFFF"

// resume is where a listing continues: after a key, or past every key
// under a common prefix (group), which the next page must not repeat.
type resume struct {
	after string
	group string
}

// listing is one page of objects and common prefixes, in key order.
type listing struct {
	objects   []ObjectInfo
	prefixes  []string
	truncated bool
	// last is the last key or common prefix returned; next resumes after it.
	last string
	next resume
}

// list reads one page from the backend, rolling keys that contain
// delimiter after prefix up into common prefixes. Each common prefix costs
// one more backend call, which starts past all of its keys, so a prefix
// holding a million keys is not read a million keys long.
func (g *Gateway) list(ctx context.Context, bucket, prefix, delimiter string, from resume, max int) (listing, error) {
	var l listing
	if max <= 0 {
		return l, nil
	}
	cursor, group := from.after, from.group
	if group != "" && cursor < group+lastRune {
		cursor = group + lastRune
	}
	for {
		want := min(max-len(l.objects)-len(l.prefixes)+1, maxListKeys)
		start := cursor
		objs, more, err := g.backend.ListObjects(ctx, bucket, prefix, start, want)
		if err != nil {
			return l, err
		}
		for _, o := range objs {
			if o.Key <= start || !strings.HasPrefix(o.Key, prefix) {
				continue // a backend outside its contract; never loop on it
			}
			if group != "" && strings.HasPrefix(o.Key, group) {
				continue
			}
			cp := commonPrefix(o.Key, prefix, delimiter)
			if len(l.objects)+len(l.prefixes) == max {
				l.truncated = true
				return l, nil
			}
			if cp != "" {
				l.prefixes = append(l.prefixes, cp)
				group, cursor = cp, cp+lastRune
				l.last, l.next = cp, resume{after: cursor, group: cp}
				continue
			}
			l.objects = append(l.objects, o)
			cursor = o.Key
			l.last, l.next = o.Key, resume{after: o.Key}
		}
		if !more || len(objs) == 0 {
			return l, nil
		}
		if last := objs[len(objs)-1].Key; last > cursor {
			cursor = last // every key up to here was skipped in a group
		}
	}
}

// commonPrefix returns the common prefix key rolls up into, or "".
func commonPrefix(key, prefix, delimiter string) string {
	if delimiter == "" {
		return ""
	}
	i := strings.Index(key[len(prefix):], delimiter)
	if i < 0 {
		return ""
	}
	return key[:len(prefix)+i+len(delimiter)]
}

// resumeAfter turns a V1 marker or a V2 start-after into a resume point:
// a marker that is itself a common prefix skips all of that prefix's keys.
func resumeAfter(marker, prefix, delimiter string) resume {
	if marker != "" && delimiter != "" && strings.HasPrefix(marker, prefix) && commonPrefix(marker, prefix, delimiter) == marker {
		return resume{after: marker, group: marker}
	}
	return resume{after: marker}
}

// The V2 continuation token is opaque to clients: base64 of 'k' and the
// last key, or 'p' and the last common prefix.
func encodeToken(r resume) string {
	if r.group != "" {
		return base64.RawURLEncoding.EncodeToString([]byte("p" + r.group))
	}
	return base64.RawURLEncoding.EncodeToString([]byte("k" + r.after))
}

func decodeToken(token string) (resume, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) == 0 || (raw[0] != 'k' && raw[0] != 'p') {
		return resume{}, apiErrorf("InvalidArgument", "the continuation token provided is incorrect")
	}
	v := string(raw[1:])
	if raw[0] == 'p' {
		return resume{after: v + lastRune, group: v}, nil
	}
	return resume{after: v}, nil
}

type listBucketResult struct {
	XMLName               xml.Name `xml:"ListBucketResult"`
	Xmlns                 string   `xml:"xmlns,attr"`
	Name                  string
	Prefix                string
	Marker                *string `xml:",omitempty"`
	ContinuationToken     string  `xml:",omitempty"`
	NextContinuationToken string  `xml:",omitempty"`
	StartAfter            string  `xml:",omitempty"`
	KeyCount              *int    `xml:",omitempty"`
	MaxKeys               int
	Delimiter             string `xml:",omitempty"`
	IsTruncated           bool
	NextMarker            string              `xml:",omitempty"`
	EncodingType          string              `xml:",omitempty"`
	Contents              []objectEntry       `xml:"Contents"`
	CommonPrefixes        []commonPrefixEntry `xml:"CommonPrefixes"`
}

type objectEntry struct {
	Key          string
	LastModified string
	ETag         string
	Size         int64
	Owner        *owner `xml:",omitempty"`
	StorageClass string
}

type commonPrefixEntry struct {
	Prefix string
}

// listQuery holds what both list versions read from the query.
type listQuery struct {
	prefix, delimiter string
	max               int
	encode            func(string) string
}

func parseListQuery(q url.Values) (listQuery, error) {
	lq := listQuery{prefix: q.Get("prefix"), delimiter: q.Get("delimiter"), max: maxListKeys, encode: func(s string) string { return s }}
	if v := q.Get("max-keys"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return lq, apiErrorf("InvalidArgument", "max-keys %q is not a non-negative number", v)
		}
		lq.max = min(n, maxListKeys)
	}
	switch et := q.Get("encoding-type"); et {
	case "":
	case "url":
		lq.encode = urlEncodeKey
	default:
		return lq, apiErrorf("InvalidArgument", "encoding-type %q is not url", et)
	}
	return lq, nil
}

// urlEncodeKey encodes a key for encoding-type=url answers, keeping '/'
// readable; clients decode it with their query unescaper.
func urlEncodeKey(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/")
}

func (g *Gateway) listObjectsV1(c *call) error {
	lq, err := parseListQuery(c.query)
	if err != nil {
		return err
	}
	marker := c.query.Get("marker")
	l, err := g.list(c.ctx, c.bucket, lq.prefix, lq.delimiter, resumeAfter(marker, lq.prefix, lq.delimiter), lq.max)
	if err != nil {
		return g.listError(c, err)
	}
	res := g.listResult(c, lq, l, true)
	encodedMarker := lq.encode(marker)
	res.Marker = &encodedMarker
	if l.truncated {
		res.NextMarker = lq.encode(l.last)
	}
	writeXML(c.w, http.StatusOK, res)
	return nil
}

func (g *Gateway) listObjectsV2(c *call) error {
	lq, err := parseListQuery(c.query)
	if err != nil {
		return err
	}
	token, startAfter := c.query.Get("continuation-token"), c.query.Get("start-after")
	from := resumeAfter(startAfter, lq.prefix, lq.delimiter)
	if c.query.Has("continuation-token") {
		if from, err = decodeToken(token); err != nil {
			return err
		}
	}
	l, err := g.list(c.ctx, c.bucket, lq.prefix, lq.delimiter, from, lq.max)
	if err != nil {
		return g.listError(c, err)
	}
	res := g.listResult(c, lq, l, c.query.Get("fetch-owner") == "true")
	count := len(l.objects) + len(l.prefixes)
	res.KeyCount = &count
	res.ContinuationToken = token
	res.StartAfter = lq.encode(startAfter)
	if l.truncated {
		res.NextContinuationToken = encodeToken(l.next)
	}
	writeXML(c.w, http.StatusOK, res)
	return nil
}

func (g *Gateway) listResult(c *call, lq listQuery, l listing, withOwner bool) listBucketResult {
	res := listBucketResult{
		Xmlns:       s3Namespace,
		Name:        c.bucket,
		Prefix:      lq.encode(lq.prefix),
		MaxKeys:     lq.max,
		Delimiter:   lq.encode(lq.delimiter),
		IsTruncated: l.truncated,
	}
	if c.query.Get("encoding-type") == "url" {
		res.EncodingType = "url"
	}
	var o *owner
	if withOwner {
		own := g.owner()
		o = &own
	}
	for _, obj := range l.objects {
		res.Contents = append(res.Contents, objectEntry{
			Key:          lq.encode(obj.Key),
			LastModified: s3Time(obj.ModTime),
			ETag:         quoteETag(obj.ETag),
			Size:         obj.Size,
			Owner:        o,
			StorageClass: "STANDARD",
		})
	}
	for _, p := range l.prefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefixEntry{Prefix: lq.encode(p)})
	}
	return res
}

func (g *Gateway) listError(c *call, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return noSuchBucket(c.bucket)
	}
	return fmt.Errorf("geds gateway: list %s: %w", c.bucket, err)
}

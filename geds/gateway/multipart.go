package gateway

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Multipart limits, as S3 has them.
const (
	maxPartNumber = 10000
	minPartSize   = 5 << 20 // every part but the last
	// uploadTTL is how long an upload may stay unfinished; older ones are
	// aborted when the next upload starts.
	uploadTTL = 24 * time.Hour
	// uploadDirPrefix names the directories of uploads under TempDir;
	// only those are ever removed there.
	uploadDirPrefix = "mpu-"
)

// uploads is the registry of multipart uploads in progress. Parts are files
// under TempDir/mpu-<id>/; the registry itself is in memory, since a
// gateway restart loses the uploads' clients anyway.
type uploads struct {
	dir    string
	ownDir bool
	now    func() time.Time
	mu     sync.Mutex
	byID   map[string]*upload
	closed bool
}

// upload is one multipart upload. mu serialises committing a part,
// completing and aborting, so a part never lands in a finished upload.
type upload struct {
	id, bucket, key string
	initiated       time.Time
	dir             string

	mu    sync.Mutex
	parts map[int]part
	done  bool
}

type part struct {
	number  int
	md5     []byte
	size    int64
	modTime time.Time
}

func (u *upload) partPath(n int) string {
	return filepath.Join(u.dir, fmt.Sprintf("part-%05d", n))
}

// openUploads prepares dir and removes uploads a previous run left there.
func openUploads(dir string, ownDir bool, now func() time.Time) (*uploads, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("geds gateway: temp dir: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("geds gateway: temp dir: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), uploadDirPrefix) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return nil, fmt.Errorf("geds gateway: remove stale upload: %w", err)
			}
		}
	}
	return &uploads{dir: dir, ownDir: ownDir, now: now, byID: map[string]*upload{}}, nil
}

func (us *uploads) create(bucket, key string) (*upload, error) {
	us.expire()
	var id [16]byte
	_, _ = rand.Read(id[:]) // never fails on supported platforms
	u := &upload{id: hex.EncodeToString(id[:]), bucket: bucket, key: key, initiated: us.now(), parts: map[int]part{}}
	u.dir = filepath.Join(us.dir, uploadDirPrefix+u.id)
	us.mu.Lock()
	defer us.mu.Unlock()
	if us.closed {
		return nil, apiErrorf("ServiceUnavailable", "the gateway is shutting down")
	}
	if err := os.Mkdir(u.dir, 0o700); err != nil {
		return nil, fmt.Errorf("geds gateway: create upload: %w", err)
	}
	us.byID[u.id] = u
	return u, nil
}

// get returns the upload with id for bucket and key.
func (us *uploads) get(id, bucket, key string) (*upload, error) {
	us.mu.Lock()
	defer us.mu.Unlock()
	u, ok := us.byID[id]
	if !ok || u.bucket != bucket || u.key != key {
		return nil, apiErrorf("NoSuchUpload", "the upload %q does not exist; it may have been aborted or completed", id)
	}
	return u, nil
}

// finish ends an upload (completed or aborted); the caller holds u.mu.
func (us *uploads) finish(u *upload) error {
	u.done = true
	us.mu.Lock()
	delete(us.byID, u.id)
	us.mu.Unlock()
	if err := os.RemoveAll(u.dir); err != nil {
		return fmt.Errorf("geds gateway: remove upload parts: %w", err)
	}
	return nil
}

// expire aborts uploads older than uploadTTL.
func (us *uploads) expire() {
	us.mu.Lock()
	var old []*upload
	for _, u := range us.byID {
		if us.now().Sub(u.initiated) > uploadTTL {
			old = append(old, u)
		}
	}
	us.mu.Unlock()
	for _, u := range old {
		u.mu.Lock()
		if !u.done {
			_ = us.finish(u) // best effort; the next start of the gateway cleans up too
		}
		u.mu.Unlock()
	}
}

// list returns the uploads of a bucket under prefix, by key then time.
func (us *uploads) list(bucket, prefix string) []*upload {
	us.mu.Lock()
	defer us.mu.Unlock()
	var out []*upload
	for _, u := range us.byID {
		if u.bucket == bucket && strings.HasPrefix(u.key, prefix) {
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].key != out[j].key {
			return out[i].key < out[j].key
		}
		return out[i].initiated.Before(out[j].initiated)
	})
	return out
}

func (us *uploads) close() error {
	us.mu.Lock()
	us.closed = true
	all := make([]*upload, 0, len(us.byID))
	for _, u := range us.byID {
		all = append(all, u)
	}
	us.mu.Unlock()
	var errs []error
	for _, u := range all {
		u.mu.Lock()
		if !u.done {
			errs = append(errs, us.finish(u))
		}
		u.mu.Unlock()
	}
	if us.ownDir {
		errs = append(errs, os.RemoveAll(us.dir))
	}
	return errors.Join(errs...)
}

type initiateMultipartUploadResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Bucket   string
	Key      string
	UploadID string `xml:"UploadId"`
}

func (g *Gateway) createMultipartUpload(c *call) error {
	if err := g.needBucket(c.ctx, c.bucket); err != nil {
		return err
	}
	u, err := g.uploads.create(c.bucket, c.key)
	if err != nil {
		return err
	}
	writeXML(c.w, http.StatusOK, initiateMultipartUploadResult{Xmlns: s3Namespace, Bucket: c.bucket, Key: c.key, UploadID: u.id})
	return nil
}

func (g *Gateway) uploadPart(c *call) error {
	number, err := strconv.Atoi(c.query.Get("partNumber"))
	if err != nil || number < 1 || number > maxPartNumber {
		return apiErrorf("InvalidArgument", "partNumber %q must be an integer from 1 to %d", c.query.Get("partNumber"), maxPartNumber)
	}
	u, err := g.uploads.get(c.query.Get("uploadId"), c.bucket, c.key)
	if err != nil {
		return err
	}
	b, err := openBody(c, true)
	if err != nil {
		return err
	}
	p, tmp, err := writePart(c, u, b)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // after a successful rename this finds nothing
	p.number = number
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return apiErrorf("NoSuchUpload", "the upload %q was completed or aborted while the part was sent", u.id)
	}
	if err := os.Rename(tmp, u.partPath(number)); err != nil {
		return fmt.Errorf("geds gateway: store part: %w", err)
	}
	u.parts[number] = p
	c.w.Header().Set("ETag", quoteETag(hex.EncodeToString(p.md5)))
	b.setChecksumHeader(c)
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// writePart streams a part's body into a temporary file of the upload,
// computing its MD5.
func writePart(c *call, u *upload, b *body) (part, string, error) {
	f, err := os.CreateTemp(u.dir, "incoming-*")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return part{}, "", apiErrorf("NoSuchUpload", "the upload %q was completed or aborted", u.id)
		}
		return part{}, "", fmt.Errorf("geds gateway: part file: %w", err)
	}
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{c.ctx, b})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		if cause := b.cause(err); cause != err {
			return part{}, "", cause
		}
		return part{}, "", fmt.Errorf("geds gateway: write part: %w", err)
	}
	return part{md5: h.Sum(nil), size: n, modTime: time.Now()}, f.Name(), nil
}

type completeMultipartUpload struct {
	XMLName xml.Name       `xml:"CompleteMultipartUpload"`
	Parts   []completePart `xml:"Part"`
}

type completePart struct {
	PartNumber int
	ETag       string
}

// maxCompleteBody bounds the Complete request: 10000 parts of about 100
// bytes each, with room for checksums.
const maxCompleteBody = 4 << 20

// parseCompleteBody parses the parts list of CompleteMultipartUpload and
// checks its shape: 1 to 10000 parts in strictly ascending order, each with
// an ETag (quotes removed).
func parseCompleteBody(data []byte) ([]completePart, error) {
	var req completeMultipartUpload
	if err := xml.Unmarshal(data, &req); err != nil {
		return nil, apiErrorf("MalformedXML", "CompleteMultipartUpload: %v", err)
	}
	if len(req.Parts) == 0 || len(req.Parts) > maxPartNumber {
		return nil, apiErrorf("MalformedXML", "CompleteMultipartUpload must list 1 to %d parts, not %d", maxPartNumber, len(req.Parts))
	}
	for i, p := range req.Parts {
		if p.PartNumber < 1 || p.PartNumber > maxPartNumber {
			return nil, apiErrorf("InvalidPart", "part number %d is not from 1 to %d", p.PartNumber, maxPartNumber)
		}
		if i > 0 && p.PartNumber <= req.Parts[i-1].PartNumber {
			return nil, apiErrorf("InvalidPartOrder", "the parts must be listed in ascending order; %d follows %d", p.PartNumber, req.Parts[i-1].PartNumber)
		}
		req.Parts[i].ETag = strings.Trim(strings.TrimSpace(p.ETag), `"`)
		if req.Parts[i].ETag == "" {
			return nil, apiErrorf("InvalidPart", "part %d has no ETag", p.PartNumber)
		}
	}
	return req.Parts, nil
}

type completeMultipartUploadResult struct {
	XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Location string
	Bucket   string
	Key      string
	ETag     string
}

func (g *Gateway) completeMultipartUpload(c *call) error {
	u, err := g.uploads.get(c.query.Get("uploadId"), c.bucket, c.key)
	if err != nil {
		return err
	}
	// Checksum headers of a Complete are the whole object's, not the
	// body's; they are not verified (see docs/formats/geds-s3-gateway.md).
	data, err := readSmallBody(c, maxCompleteBody, false)
	if err != nil {
		return err
	}
	listed, err := parseCompleteBody(data)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return apiErrorf("NoSuchUpload", "the upload %q was completed or aborted", u.id)
	}
	parts, size, etag, err := u.check(listed)
	if err != nil {
		return err
	}
	r := &partsReader{u: u, parts: parts}
	defer r.close()
	info, err := g.backend.PutObject(c.ctx, c.bucket, c.key, ctxReader{c.ctx, r}, size)
	if err != nil {
		return g.putError(c, err)
	}
	if err := g.uploads.finish(u); err != nil {
		g.log.Error("geds gateway: clean up completed upload", "upload", u.id, "err", err)
	}
	g.log.Debug("geds gateway: multipart upload complete", "bucket", c.bucket, "key", c.key, "parts", len(parts), "backendETag", info.ETag)
	writeXML(c.w, http.StatusOK, completeMultipartUploadResult{
		Xmlns:    s3Namespace,
		Location: "http://" + c.r.Host + "/" + c.bucket + "/" + c.key,
		Bucket:   c.bucket,
		Key:      c.key,
		ETag:     quoteETag(etag),
	})
	return nil
}

// check matches the listed parts with the uploaded ones and returns them,
// the object's size and its multipart ETag: the MD5 of the parts' MD5s,
// a dash and the number of parts. The caller holds u.mu.
func (u *upload) check(listed []completePart) ([]part, int64, string, error) {
	parts := make([]part, 0, len(listed))
	sums := md5.New()
	var size int64
	for _, l := range listed {
		p, ok := u.parts[l.PartNumber]
		if !ok || !strings.EqualFold(l.ETag, hex.EncodeToString(p.md5)) {
			return nil, 0, "", apiErrorf("InvalidPart", "part %d was not uploaded or its ETag is not %q", l.PartNumber, l.ETag)
		}
		parts = append(parts, p)
		sums.Write(p.md5)
		size += p.size
	}
	for _, p := range parts[:len(parts)-1] {
		if p.size < minPartSize {
			return nil, 0, "", apiErrorf("EntityTooSmall", "part %d is %d bytes; every part but the last must be at least %d", p.number, p.size, minPartSize)
		}
	}
	return parts, size, hex.EncodeToString(sums.Sum(nil)) + "-" + strconv.Itoa(len(parts)), nil
}

// partsReader reads the parts one after another, one file open at a time.
type partsReader struct {
	u     *upload
	parts []part
	f     *os.File
}

func (r *partsReader) Read(p []byte) (int, error) {
	for {
		if r.f == nil {
			if len(r.parts) == 0 {
				return 0, io.EOF
			}
			f, err := os.Open(r.u.partPath(r.parts[0].number))
			if err != nil {
				return 0, fmt.Errorf("geds gateway: open part: %w", err)
			}
			r.f, r.parts = f, r.parts[1:]
		}
		n, err := r.f.Read(p)
		if err == io.EOF {
			r.f.Close()
			r.f = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (r *partsReader) close() {
	if r.f != nil {
		r.f.Close()
	}
}

func (g *Gateway) abortMultipartUpload(c *call) error {
	u, err := g.uploads.get(c.query.Get("uploadId"), c.bucket, c.key)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return apiErrorf("NoSuchUpload", "the upload %q was completed or aborted", u.id)
	}
	if err := g.uploads.finish(u); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

type listPartsResult struct {
	XMLName              xml.Name `xml:"ListPartsResult"`
	Xmlns                string   `xml:"xmlns,attr"`
	Bucket               string
	Key                  string
	UploadID             string `xml:"UploadId"`
	PartNumberMarker     int
	NextPartNumberMarker int
	MaxParts             int
	IsTruncated          bool
	Parts                []partEntry `xml:"Part"`
}

type partEntry struct {
	PartNumber   int
	LastModified string
	ETag         string
	Size         int64
}

func (g *Gateway) listParts(c *call) error {
	u, err := g.uploads.get(c.query.Get("uploadId"), c.bucket, c.key)
	if err != nil {
		return err
	}
	maxParts, marker := 1000, 0
	if v := c.query.Get("max-parts"); v != "" {
		if maxParts, err = strconv.Atoi(v); err != nil || maxParts < 0 {
			return apiErrorf("InvalidArgument", "max-parts %q is not a non-negative number", v)
		}
		maxParts = min(maxParts, 1000)
	}
	if v := c.query.Get("part-number-marker"); v != "" {
		if marker, err = strconv.Atoi(v); err != nil || marker < 0 {
			return apiErrorf("InvalidArgument", "part-number-marker %q is not a non-negative number", v)
		}
	}
	u.mu.Lock()
	numbers := make([]int, 0, len(u.parts))
	for n := range u.parts {
		if n > marker {
			numbers = append(numbers, n)
		}
	}
	sort.Ints(numbers)
	res := listPartsResult{Xmlns: s3Namespace, Bucket: c.bucket, Key: c.key, UploadID: u.id, PartNumberMarker: marker, MaxParts: maxParts}
	for _, n := range numbers {
		if len(res.Parts) == maxParts {
			res.IsTruncated = true
			break
		}
		p := u.parts[n]
		res.Parts = append(res.Parts, partEntry{PartNumber: n, LastModified: s3Time(p.modTime), ETag: quoteETag(hex.EncodeToString(p.md5)), Size: p.size})
		res.NextPartNumberMarker = n
	}
	u.mu.Unlock()
	writeXML(c.w, http.StatusOK, res)
	return nil
}

type listMultipartUploadsResult struct {
	XMLName        xml.Name `xml:"ListMultipartUploadsResult"`
	Xmlns          string   `xml:"xmlns,attr"`
	Bucket         string
	KeyMarker      string
	UploadIDMarker string `xml:"UploadIdMarker"`
	Prefix         string
	MaxUploads     int
	IsTruncated    bool
	Uploads        []uploadEntry `xml:"Upload"`
}

type uploadEntry struct {
	Key          string
	UploadID     string `xml:"UploadId"`
	Initiator    owner
	Owner        owner
	StorageClass string
	Initiated    string
}

// listMultipartUploads lists a bucket's uploads in progress, up to 1000;
// markers are not supported (the gateway holds few uploads at a time).
func (g *Gateway) listMultipartUploads(c *call) error {
	if err := g.needBucket(c.ctx, c.bucket); err != nil {
		return err
	}
	prefix := c.query.Get("prefix")
	res := listMultipartUploadsResult{Xmlns: s3Namespace, Bucket: c.bucket, Prefix: prefix, MaxUploads: 1000}
	for _, u := range g.uploads.list(c.bucket, prefix) {
		if len(res.Uploads) == res.MaxUploads {
			res.IsTruncated = true
			break
		}
		res.Uploads = append(res.Uploads, uploadEntry{
			Key: u.key, UploadID: u.id, Initiator: g.owner(), Owner: g.owner(),
			StorageClass: "STANDARD", Initiated: s3Time(u.initiated),
		})
	}
	writeXML(c.w, http.StatusOK, res)
	return nil
}

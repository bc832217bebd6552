// Package gateway serves GEDS to programs in any language through the S3
// API: an http.Handler that speaks path-style S3 (buckets, objects, ranges,
// listings, multipart uploads, multi-delete, copy) over a Backend, and
// authenticates every request with AWS Signature Version 4 (package sigv4).
// DirBackend is a Backend over a local directory, so the gateway is also a
// standalone S3 server.
//
// It is hand-written because the Go S3 servers that exist are whole
// storage systems (MinIO, SeaweedFS) whose protocol layer is not a library
// one can put over another store, or test fakes with their own storage
// model; GEDS needs only the protocol layer, over its own client. What is
// served, and how, is in docs/formats/geds-s3-gateway.md.
package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cloudskin/cloudskin/geds/gateway/sigv4"
)

// Config configures a Gateway.
type Config struct {
	// AccessKey and SecretKey are the one key pair requests must be signed
	// with. Both are required.
	AccessKey string
	SecretKey string
	// Region is the region clients sign for; default "us-east-1".
	Region string
	// TempDir holds the parts of multipart uploads until they complete.
	// Default: a new directory under os.TempDir, removed by Close.
	TempDir string
	// Backend stores the buckets and objects. Required.
	Backend Backend
	// Log receives refused requests (debug) and internal errors (error);
	// default: discard.
	Log *slog.Logger
	// Now is the clock signatures are checked against; default time.Now.
	Now func() time.Time
}

// Gateway is the S3 handler. It is safe for concurrent use.
type Gateway struct {
	backend  Backend
	verifier *sigv4.Verifier
	region   string
	ownerID  string
	log      *slog.Logger
	now      func() time.Time
	uploads  *uploads

	idPrefix uint32
	ids      atomic.Uint32
}

// New checks cfg and returns a gateway. Close it to remove the parts of
// unfinished multipart uploads.
func New(cfg Config) (*Gateway, error) {
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("geds gateway: an access key and a secret key are required")
	}
	if cfg.Backend == nil {
		return nil, errors.New("geds gateway: a backend is required")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ownTemp := cfg.TempDir == ""
	if ownTemp {
		dir, err := os.MkdirTemp("", "geds-gateway-")
		if err != nil {
			return nil, fmt.Errorf("geds gateway: temp dir: %w", err)
		}
		cfg.TempDir = dir
	}
	up, err := openUploads(cfg.TempDir, ownTemp, cfg.Now)
	if err != nil {
		return nil, err
	}
	var seed [4]byte
	_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails on supported platforms
	owner := sha256.Sum256([]byte(cfg.AccessKey))
	return &Gateway{
		backend:  cfg.Backend,
		verifier: sigv4.NewVerifier(sigv4.Config{AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey, Region: cfg.Region, Now: cfg.Now}),
		region:   cfg.Region,
		ownerID:  hex.EncodeToString(owner[:]),
		log:      cfg.Log,
		now:      cfg.Now,
		uploads:  up,
		idPrefix: binary.BigEndian.Uint32(seed[:]),
	}, nil
}

// Close aborts the multipart uploads in progress and removes their parts.
// Requests still running may fail; the gateway must not be used after.
func (g *Gateway) Close() error {
	return g.uploads.close()
}

// call is one request being answered.
type call struct {
	w         http.ResponseWriter
	r         *http.Request
	ctx       context.Context
	auth      *sigv4.Auth
	query     url.Values
	bucket    string
	key       string
	requestID string
}

// ServeHTTP authenticates the request and answers it.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{w: w, r: r, ctx: r.Context(), requestID: fmt.Sprintf("%08X%08X", g.idPrefix, g.ids.Add(1))}
	w.Header().Set("X-Amz-Request-Id", c.requestID)
	w.Header().Set("Server", "cloudskin-geds")
	var err error
	if c.query, err = url.ParseQuery(r.URL.RawQuery); err != nil {
		g.writeError(c, apiErrorf("InvalidArgument", "query string: %v", err))
		return
	}
	if c.auth, err = g.verifier.Verify(r); err != nil {
		g.writeError(c, err)
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	c.bucket, c.key, _ = strings.Cut(path, "/")
	if err := g.route(c); err != nil {
		g.writeError(c, err)
	}
}

// unsupported are S3 subresources the gateway does not implement; a request
// naming one is answered NotImplemented rather than mistaken for a plain
// GET or PUT.
var unsupported = []string{
	"accelerate", "analytics", "attributes", "cors", "encryption", "intelligent-tiering", "inventory",
	"legal-hold", "lifecycle", "logging", "metadataTable", "metrics", "notification", "object-lock",
	"ownershipControls", "policy", "policyStatus", "publicAccessBlock", "replication", "requestPayment",
	"restore", "retention", "select", "tagging", "torrent", "versions", "website",
}

func (g *Gateway) route(c *call) error {
	for _, name := range unsupported {
		if c.query.Has(name) {
			return apiErrorf("NotImplemented", "the %s subresource is not implemented", name)
		}
	}
	m := c.r.Method
	if c.bucket == "" {
		if m != http.MethodGet {
			return apiErrorf("MethodNotAllowed", "%s is not allowed on the service", m)
		}
		return g.listBuckets(c)
	}
	if err := checkBucketName(c.bucket); err != nil {
		return err
	}
	if c.key == "" {
		return g.routeBucket(c)
	}
	if err := checkKey(c.key); err != nil {
		return err
	}
	return g.routeObject(c)
}

func (g *Gateway) routeBucket(c *call) error {
	q := c.query
	switch c.r.Method {
	case http.MethodGet:
		switch {
		case q.Has("location"):
			return g.getBucketLocation(c)
		case q.Has("uploads"):
			return g.listMultipartUploads(c)
		case q.Has("versioning"):
			return g.getBucketVersioning(c)
		case q.Has("acl"):
			return g.getACL(c)
		case q.Get("list-type") == "2":
			return g.listObjectsV2(c)
		}
		return g.listObjectsV1(c)
	case http.MethodHead:
		return g.headBucket(c)
	case http.MethodPut:
		if q.Has("acl") || q.Has("versioning") {
			return apiErrorf("NotImplemented", "changing a bucket's acl or versioning is not implemented")
		}
		return g.createBucket(c)
	case http.MethodDelete:
		return g.deleteBucket(c)
	case http.MethodPost:
		if q.Has("delete") {
			return g.deleteObjects(c)
		}
	}
	return apiErrorf("MethodNotAllowed", "%s is not allowed on a bucket here", c.r.Method)
}

func (g *Gateway) routeObject(c *call) error {
	q := c.query
	switch c.r.Method {
	case http.MethodGet:
		switch {
		case q.Has("uploadId"):
			return g.listParts(c)
		case q.Has("acl"):
			return g.getACL(c)
		}
		return g.getObject(c)
	case http.MethodHead:
		return g.getObject(c)
	case http.MethodPut:
		switch {
		case q.Has("acl"):
			return apiErrorf("NotImplemented", "changing an object's acl is not implemented")
		case q.Has("uploadId") || q.Has("partNumber"):
			if c.r.Header.Get("X-Amz-Copy-Source") != "" {
				return apiErrorf("NotImplemented", "UploadPartCopy is not implemented")
			}
			return g.uploadPart(c)
		case c.r.Header.Get("X-Amz-Copy-Source") != "":
			return g.copyObject(c)
		}
		return g.putObject(c)
	case http.MethodDelete:
		if q.Has("uploadId") {
			return g.abortMultipartUpload(c)
		}
		return g.deleteObject(c)
	case http.MethodPost:
		switch {
		case q.Has("uploads"):
			return g.createMultipartUpload(c)
		case q.Has("uploadId"):
			return g.completeMultipartUpload(c)
		case q.Has("persist"), q.Has("spill"):
			return g.tier(c, q.Has("spill"))
		}
	}
	return apiErrorf("MethodNotAllowed", "%s is not allowed on an object here", c.r.Method)
}

// s3Namespace is the XML namespace of S3 answers.
const s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

// writeXML writes v as an XML document.
func writeXML(w http.ResponseWriter, status int, v any) {
	body, err := xml.Marshal(v)
	if err != nil {
		// Our answer types always marshal; this is a programming error.
		http.Error(w, "geds gateway: encode answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", fmt.Sprint(len(xml.Header)+len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, xml.Header) // the client may have gone; nothing to do
	_, _ = w.Write(body)
}

// s3Time formats a time as S3 does in XML.
func s3Time(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// quoteETag puts the ETag in quotes, as S3 sends it.
func quoteETag(etag string) string { return `"` + strings.Trim(etag, `"`) + `"` }

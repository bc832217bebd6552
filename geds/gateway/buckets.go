package gateway

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
)

type owner struct {
	ID          string
	DisplayName string
}

type listAllMyBucketsResult struct {
	XMLName xml.Name `xml:"ListAllMyBucketsResult"`
	Xmlns   string   `xml:"xmlns,attr"`
	Owner   owner
	Buckets []bucketEntry `xml:"Buckets>Bucket"`
}

type bucketEntry struct {
	Name         string
	CreationDate string
}

func (g *Gateway) owner() owner { return owner{ID: g.ownerID, DisplayName: "cloudskin"} }

func (g *Gateway) listBuckets(c *call) error {
	buckets, err := g.backend.ListBuckets(c.ctx)
	if err != nil {
		return fmt.Errorf("geds gateway: list buckets: %w", err)
	}
	res := listAllMyBucketsResult{Xmlns: s3Namespace, Owner: g.owner(), Buckets: []bucketEntry{}}
	for _, b := range buckets {
		res.Buckets = append(res.Buckets, bucketEntry{Name: b.Name, CreationDate: s3Time(b.Created)})
	}
	writeXML(c.w, http.StatusOK, res)
	return nil
}

type createBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string
}

func (g *Gateway) createBucket(c *call) error {
	data, err := readSmallBody(c, 64<<10, true)
	if err != nil {
		return err
	}
	if len(data) > 0 {
		var conf createBucketConfiguration
		if err := xml.Unmarshal(data, &conf); err != nil {
			return apiErrorf("MalformedXML", "CreateBucketConfiguration: %v", err)
		}
		if lc := conf.LocationConstraint; lc != "" && lc != g.region && !(lc == "US" && g.region == "us-east-1") {
			return apiErrorf("InvalidLocationConstraint", "this gateway serves region %q, not %q", g.region, lc)
		}
	}
	err = g.backend.CreateBucket(c.ctx, c.bucket)
	switch {
	case errors.Is(err, fs.ErrExist):
		return apiErrorf("BucketAlreadyOwnedByYou", "bucket %q already exists and is yours", c.bucket)
	case err != nil:
		return fmt.Errorf("geds gateway: create bucket %s: %w", c.bucket, err)
	}
	c.w.Header().Set("Location", "/"+c.bucket)
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func (g *Gateway) deleteBucket(c *call) error {
	err := g.backend.DeleteBucket(c.ctx, c.bucket)
	switch {
	case errors.Is(err, ErrBucketNotEmpty):
		return apiErrorf("BucketNotEmpty", "bucket %q is not empty", c.bucket)
	case errors.Is(err, fs.ErrNotExist):
		return noSuchBucket(c.bucket)
	case err != nil:
		return fmt.Errorf("geds gateway: delete bucket %s: %w", c.bucket, err)
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (g *Gateway) headBucket(c *call) error {
	if err := g.needBucket(c.ctx, c.bucket); err != nil {
		return err
	}
	c.w.Header().Set("X-Amz-Bucket-Region", g.region)
	c.w.WriteHeader(http.StatusOK)
	return nil
}

type locationConstraint struct {
	XMLName xml.Name `xml:"LocationConstraint"`
	Xmlns   string   `xml:"xmlns,attr"`
	Region  string   `xml:",chardata"`
}

func (g *Gateway) getBucketLocation(c *call) error {
	if err := g.needBucket(c.ctx, c.bucket); err != nil {
		return err
	}
	region := g.region
	if region == "us-east-1" {
		region = "" // S3 answers the default region with an empty constraint
	}
	writeXML(c.w, http.StatusOK, locationConstraint{Xmlns: s3Namespace, Region: region})
	return nil
}

type versioningConfiguration struct {
	XMLName xml.Name `xml:"VersioningConfiguration"`
	Xmlns   string   `xml:"xmlns,attr"`
}

// getBucketVersioning answers that versioning was never enabled.
func (g *Gateway) getBucketVersioning(c *call) error {
	if err := g.needBucket(c.ctx, c.bucket); err != nil {
		return err
	}
	writeXML(c.w, http.StatusOK, versioningConfiguration{Xmlns: s3Namespace})
	return nil
}

type accessControlPolicy struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	Xmlns   string   `xml:"xmlns,attr"`
	Owner   owner
	Grants  []grant `xml:"AccessControlList>Grant"`
}

type grant struct {
	Grantee    grantee
	Permission string
}

type grantee struct {
	XMLNSxsi    string `xml:"xmlns:xsi,attr"`
	Type        string `xml:"xsi:type,attr"`
	ID          string
	DisplayName string
}

// getACL answers the only ACL there is: the key pair owns everything.
func (g *Gateway) getACL(c *call) error {
	if c.key == "" {
		if err := g.needBucket(c.ctx, c.bucket); err != nil {
			return err
		}
	} else if _, err := g.backend.HeadObject(c.ctx, c.bucket, c.key); err != nil {
		return g.objectError(c, err)
	}
	o := g.owner()
	writeXML(c.w, http.StatusOK, accessControlPolicy{
		Xmlns: s3Namespace,
		Owner: o,
		Grants: []grant{{
			Grantee:    grantee{XMLNSxsi: "http://www.w3.org/2001/XMLSchema-instance", Type: "CanonicalUser", ID: o.ID, DisplayName: o.DisplayName},
			Permission: "FULL_CONTROL",
		}},
	})
	return nil
}

// needBucket returns NoSuchBucket unless the bucket exists.
func (g *Gateway) needBucket(ctx context.Context, bucket string) error {
	buckets, err := g.backend.ListBuckets(ctx)
	if err != nil {
		return fmt.Errorf("geds gateway: list buckets: %w", err)
	}
	for _, b := range buckets {
		if b.Name == bucket {
			return nil
		}
	}
	return noSuchBucket(bucket)
}

func noSuchBucket(bucket string) error {
	return apiErrorf("NoSuchBucket", "the bucket %q does not exist", bucket)
}

// objectError turns a backend error about an object into an S3 error:
// fs.ErrNotExist is NoSuchBucket or NoSuchKey, whichever is true.
func (g *Gateway) objectError(c *call, err error) error {
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("geds gateway: %s %s/%s: %w", c.r.Method, c.bucket, c.key, err)
	}
	if errors.Is(err, ErrNoSuchBucket) {
		return noSuchBucket(c.bucket)
	}
	if !errors.Is(err, ErrNoSuchKey) {
		if berr := g.needBucket(c.ctx, c.bucket); berr != nil {
			return berr
		}
	}
	return apiErrorf("NoSuchKey", "the key %q does not exist", c.key)
}

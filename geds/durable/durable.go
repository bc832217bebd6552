// Package durable writes one GEDS object so that it outlives the node that
// wrote it: create (replacing an object of that key), write, seal, then
// persist to the persistency tier before returning. Callers that hand a
// piece of data over for good (the stream store's LTS, which then truncates
// its log; the control plane's cell checkpoints, which a lost host must not
// take along) need exactly this sequence, and its failure handling (abort
// an unsealed object, never leave part of one readable), in one place.
package durable

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cloudskin/cloudskin/geds"
)

// copyBuffer is the size of the writes to tier 0: big enough that a
// snapshot of hundreds of MiB is not cut into thousands of small writes.
const copyBuffer = 1 << 20

// Put writes body as bucket/key in client's tier 0, seals it and, if
// persist, copies it to the persistency tier (Persist: the tier-0 copy
// stays, for fast reads) before returning how many bytes it wrote.
//
// GEDS objects are immutable once sealed, so a key that exists is deleted
// first: a Put that fails after that leaves no object, never a part of one
// (an object is readable only once sealed, and a failed write is aborted).
// A Put that fails only at persisting leaves the object sealed in tier 0;
// the caller decides whether that is worth keeping.
//
// Errors are GEDS's, wrapped with the step that failed; test them with
// errors.Is against the geds errors.
func Put(ctx context.Context, client *geds.Client, bucket, key string, body io.Reader, persist bool) (int64, error) {
	w, err := client.Create(ctx, bucket, key)
	if errors.Is(err, geds.ErrExists) {
		if err = client.Delete(ctx, bucket, key); err == nil || errors.Is(err, geds.ErrNotFound) {
			w, err = client.Create(ctx, bucket, key)
		}
	}
	if err != nil {
		return 0, err
	}
	n, err := copyTo(w, body)
	if err == nil {
		err = w.Seal(ctx)
	}
	if err != nil {
		_ = w.Abort(context.WithoutCancel(ctx))
		return n, fmt.Errorf("writing %s/%s: %w", bucket, key, err)
	}
	if !persist {
		return n, nil
	}
	if err := client.Persist(ctx, bucket, key); err != nil {
		return n, fmt.Errorf("persisting %s/%s to the persistency tier: %w", bucket, key, err)
	}
	return n, nil
}

// copyTo copies body to w in writes of copyBuffer bytes, or in the one
// write of a body that can write itself (a bytes.Reader).
func copyTo(w io.Writer, body io.Reader) (int64, error) {
	if wt, ok := body.(io.WriterTo); ok {
		return wt.WriteTo(w)
	}
	return io.CopyBuffer(w, body, make([]byte, copyBuffer))
}

// Transient reports whether a GEDS error may pass if the call is made
// again later: the metadata service, a peer or S3 unreachable, tier 0
// full. A missing or lost object, a bad name, a closed client and an ended
// request are not. Callers that hand data over for good turn transient
// errors into their own "unavailable" (keep the data, try later).
func Transient(err error) bool {
	switch {
	case err == nil, errors.Is(err, geds.ErrNotFound), errors.Is(err, geds.ErrLost), errors.Is(err, geds.ErrInvalidName),
		errors.Is(err, geds.ErrClosed), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	return true
}

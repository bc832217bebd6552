package geds

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudskin/cloudskin/geds/metadata"
	"github.com/cloudskin/cloudskin/geds/peer"
	"github.com/cloudskin/cloudskin/geds/tier0"
)

// Client is one GEDS node: a tier 0, a peer server over it, a link to the
// metadata server and optionally a persistency tier. It is safe for
// concurrent use.
type Client struct {
	opts    Options
	log     *slog.Logger
	meta    *metadata.Client
	t0      *tier0.Store
	peers   *peer.Client
	peerSrv *peer.Server
	peerURL string
	m       *clientMetrics
	sp      *spiller
	room    notifier // signalled whenever tier-0 room or the spiller's state changes

	mu          sync.Mutex
	incarnation string

	// ensured remembers persistency buckets known to exist, so that a
	// spill costs one S3 request, not two.
	ensured sync.Map
	// persistentOf remembers each GEDS bucket's persistency bucket.
	persistentOf sync.Map
	// renames makes this node's renames take turns (see replace).
	renames sync.Mutex

	cancel context.CancelFunc
	done   chan struct{} // closed when Close begins
	wg     sync.WaitGroup
	closed atomic.Bool
}

// Open starts a GEDS node: it clears and opens tier 0, starts the peer
// server, registers with the metadata server and starts heartbeating and
// spilling in the background. Close stops it all.
func Open(ctx context.Context, opts Options) (*Client, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	meta, err := metadata.NewClient(o.MetadataURL, o.HTTPClient)
	if err != nil {
		return nil, fmt.Errorf("geds: %w", err)
	}
	t0, err := tier0.New(tier0.Config{Dir: o.Dir, Limit: o.Limit, Now: o.Now})
	if err != nil {
		return nil, fmt.Errorf("geds: %w", err)
	}
	ln, err := net.Listen("tcp", o.PeerListen)
	if err != nil {
		t0.Close()
		return nil, fmt.Errorf("geds: peer listener: %w", err)
	}
	c := &Client{
		opts: o, log: o.Log.With("component", "geds", "node", o.NodeID), meta: meta, t0: t0,
		peers: peer.NewClient(peer.ClientConfig{}), done: make(chan struct{}),
	}
	c.sp = newSpiller(c)
	if c.peerURL, err = advertisedURL(o.PeerURL, ln.Addr()); err == nil {
		c.m, err = newMetrics(o.Metrics, o.NodeID,
			func() float64 { return float64(t0.Used()) },
			func() float64 { return float64(o.Limit) },
			func() float64 { return float64(c.sp.queueLen()) })
	}
	if err == nil {
		err = c.register(ctx)
	}
	if err != nil {
		ln.Close()
		t0.Close()
		return nil, err
	}
	c.peerSrv = peer.NewServer(peer.ServerConfig{Tier0: t0, Drop: c.dropAtPeerRequest, Log: c.log})
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.wg.Add(3)
	go func() {
		defer c.wg.Done()
		if err := c.peerSrv.Serve(runCtx, ln); err != nil {
			c.log.Error("GEDS peer server stopped", "err", err)
		}
	}()
	go func() { defer c.wg.Done(); c.heartbeatLoop(runCtx) }()
	go func() { defer c.wg.Done(); c.sp.run(runCtx) }()
	c.log.Info("GEDS node started", "peer", c.peerURL, "dir", o.Dir, "limit", o.Limit)
	return c, nil
}

func advertisedURL(configured string, addr net.Addr) (string, error) {
	if configured != "" {
		return configured, nil
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		return "", fmt.Errorf("geds: peer listener %s is a wildcard address: set Options.PeerURL to the address other nodes should use", addr)
	}
	return "http://" + addr.String(), nil
}

// register announces a new incarnation of this node to the metadata server.
func (c *Client) register(ctx context.Context) error {
	inc := rand.Text()
	if _, err := c.meta.RegisterHolder(ctx, c.opts.NodeID, metadata.RegisterRequest{PeerURL: c.peerURL, Incarnation: inc}); err != nil {
		return fmt.Errorf("geds: registering node %s: %w", c.opts.NodeID, err)
	}
	c.mu.Lock()
	c.incarnation = inc
	c.mu.Unlock()
	return nil
}

func (c *Client) holder() (node, incarnation string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opts.NodeID, c.incarnation
}

// isMe reports whether h is this process.
func (c *Client) isMe(h *metadata.HolderRef) bool {
	node, inc := c.holder()
	return h != nil && h.Node == node && h.Incarnation == inc
}

// NodeID returns the node id.
func (c *Client) NodeID() string { return c.opts.NodeID }

// Tier0Used returns how many bytes this node's tier 0 holds (or has
// reserved for writes in progress).
func (c *Client) Tier0Used() int64 { return c.t0.Used() }

// PeerURL returns the URL this node serves its objects to peers at.
func (c *Client) PeerURL() string { return c.peerURL }

// Close leaves the metadata server (this node's objects then read from S3
// or fail as lost at once), stops the background work and the peer server,
// and deletes tier 0. Readers still open keep their memory mappings.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	close(c.done)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	node, inc := c.holder()
	var errs []error
	if err := c.meta.Leave(ctx, node, inc); err != nil && !errors.Is(err, metadata.ErrHolderDead) {
		errs = append(errs, fmt.Errorf("geds: leaving the metadata server: %w", err))
	}
	c.stop()
	c.meta.Close()
	if err := c.t0.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// stop ends the background goroutines and the peer server.
func (c *Client) stop() {
	c.cancel()
	c.peers.Close()
	c.wg.Wait()
}

// heartbeatLoop keeps this node alive at the metadata server. A node that
// was declared dead (silent too long) rejoins with a new incarnation and
// drops its tier 0: the metadata server has already moved its objects to
// s3 or marked them lost, so the local copies are orphans.
func (c *Client) heartbeatLoop(ctx context.Context) {
	ticker := time.NewTicker(c.opts.HeartbeatInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		hbCtx, cancel := context.WithTimeout(ctx, c.opts.HeartbeatInterval)
		node, inc := c.holder()
		_, err := c.meta.Heartbeat(hbCtx, node, inc)
		cancel()
		switch {
		case err == nil || ctx.Err() != nil:
		case errors.Is(err, metadata.ErrHolderDead):
			c.log.Warn("GEDS node was declared dead; dropping tier 0 and rejoining", "reason", err)
			c.rejoin(ctx)
		default:
			c.log.Warn("GEDS heartbeat failed", "err", err)
		}
	}
}

func (c *Client) rejoin(ctx context.Context) {
	for _, in := range c.t0.Objects() {
		_ = c.t0.Remove(in.Bucket, in.Key, in.ID)
	}
	c.room.notify()
	if err := c.register(ctx); err != nil && ctx.Err() == nil {
		c.log.Warn("GEDS rejoin failed; will retry at the next heartbeat", "err", err)
	}
}

// dropAtPeerRequest removes a local copy another node says is no longer
// held here, after checking with the metadata server.
func (c *Client) dropAtPeerRequest(ctx context.Context, bucket, key, id string) error {
	o, err := c.meta.GetObject(ctx, bucket, key)
	if err == nil && o.ID == id && c.isMe(o.Holder) {
		return fmt.Errorf("geds: %s/%s is still held by this node: %w", bucket, key, metadata.ErrConflict)
	}
	if err != nil && !errors.Is(err, metadata.ErrNotFound) {
		return err
	}
	if err := c.t0.Remove(bucket, key, id); err != nil {
		return err
	}
	c.room.notify()
	return nil
}

func (c *Client) checkOpen() error {
	if c.closed.Load() {
		return ErrClosed
	}
	return nil
}

// CreateBucket creates a bucket. Its objects spill to the persistency
// bucket of the same name.
func (c *Client) CreateBucket(ctx context.Context, name string) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	if _, err := c.meta.CreateBucket(ctx, name, metadata.CreateBucketRequest{}); err != nil {
		return fmt.Errorf("geds: create bucket: %w", err)
	}
	return nil
}

// Mount makes the persistency tier's bucket persistentBucket appear as the
// GEDS bucket gedsBucket: its objects read and list under the same keys,
// and objects created there spill into it. The persistency bucket is
// created if missing.
func (c *Client) Mount(ctx context.Context, gedsBucket, persistentBucket string) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	if c.opts.Persistent == nil {
		return fmt.Errorf("geds: mount %s: %w", persistentBucket, ErrNoPersistent)
	}
	if err := metadata.ValidateBucket(persistentBucket); err != nil {
		return fmt.Errorf("geds: mount: %w", err)
	}
	if err := c.opts.Persistent.EnsureBucket(ctx, persistentBucket); err != nil {
		return fmt.Errorf("geds: mount %s: persistency tier: %w", persistentBucket, err)
	}
	if _, err := c.meta.CreateBucket(ctx, gedsBucket, metadata.CreateBucketRequest{Persistent: persistentBucket, Mounted: true}); err != nil {
		return fmt.Errorf("geds: mount %s as %s: %w", persistentBucket, gedsBucket, err)
	}
	return nil
}

// DeleteBucket removes a bucket that holds no GEDS objects. Unmounting a
// mounted bucket leaves the persistency bucket's objects where they are.
func (c *Client) DeleteBucket(ctx context.Context, name string) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	if err := c.meta.DeleteBucket(ctx, name); err != nil {
		return fmt.Errorf("geds: delete bucket: %w", err)
	}
	return nil
}

// ListBuckets returns every bucket in name order.
func (c *Client) ListBuckets(ctx context.Context) ([]Bucket, error) {
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	b, err := c.meta.ListBuckets(ctx)
	if err != nil {
		return nil, fmt.Errorf("geds: list buckets: %w", err)
	}
	return b, nil
}

// Stat describes an object. A lost object is described (State lost, with
// the reason) rather than refused; Open refuses it.
func (c *Client) Stat(ctx context.Context, bucket, key string) (ObjectInfo, error) {
	if err := c.checkOpen(); err != nil {
		return ObjectInfo{}, err
	}
	o, err := c.meta.GetObject(ctx, bucket, key)
	if errors.Is(err, metadata.ErrNotFound) {
		return c.statMounted(ctx, bucket, key, err)
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("geds: stat: %w", err)
	}
	return o, nil
}

// statMounted finds an object that only the persistency bucket behind a
// mounted bucket has; notFound is returned if there is none.
func (c *Client) statMounted(ctx context.Context, bucket, key string, notFound error) (ObjectInfo, error) {
	b, err := c.meta.GetBucket(ctx, bucket)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("geds: %w", err)
	}
	if !b.Mounted || c.opts.Persistent == nil {
		return ObjectInfo{}, fmt.Errorf("geds: %w", notFound)
	}
	size, etag, _, err := c.opts.Persistent.Head(ctx, b.Persistent, key)
	if errors.Is(err, fs.ErrNotExist) {
		return ObjectInfo{}, fmt.Errorf("geds: %w", notFound)
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("geds: stat %s/%s in the persistency tier: %w", b.Persistent, key, err)
	}
	// The ETag makes a reader of this object fail with ErrReplaced, rather
	// than read the new bytes, if another S3 client overwrites it.
	return ObjectInfo{Bucket: bucket, Key: key, Size: size, Tier: TierS3, State: StateSealed, S3ETag: etag}, nil
}

// List returns up to limit objects of bucket whose keys start with prefix
// and sort after token ("" for the first page), in key order, and the
// token of the next page ("" on the last). limit <= 0 means 1000. A
// mounted bucket also lists the persistency bucket's objects.
func (c *Client) List(ctx context.Context, bucket, prefix, token string, limit int) (ObjectList, error) {
	if err := c.checkOpen(); err != nil {
		return ObjectList{}, err
	}
	if limit <= 0 {
		limit = metadata.DefaultListLimit
	}
	limit = min(limit, metadata.MaxListLimit)
	page, err := c.meta.ListObjects(ctx, bucket, prefix, token, limit)
	if err != nil {
		return ObjectList{}, fmt.Errorf("geds: list: %w", err)
	}
	b, err := c.meta.GetBucket(ctx, bucket)
	if err != nil {
		return ObjectList{}, fmt.Errorf("geds: list: %w", err)
	}
	if !b.Mounted || c.opts.Persistent == nil {
		return page, nil
	}
	return c.mergeMounted(ctx, b, page, prefix, token, limit)
}

// errEnough stops a persistency-tier listing early.
var errEnough = errors.New("enough")

// mergeMounted merges a metadata page with the persistency bucket's keys
// in the same range; where both know a key, the metadata's answer wins.
func (c *Client) mergeMounted(ctx context.Context, b Bucket, page ObjectList, prefix, token string, limit int) (ObjectList, error) {
	var fromS3 []ObjectInfo
	s3More := false
	err := c.opts.Persistent.List(ctx, b.Persistent, prefix, func(key string, size int64) error {
		if key <= token {
			return nil
		}
		if len(fromS3) == limit {
			s3More = true
			return errEnough
		}
		fromS3 = append(fromS3, ObjectInfo{Bucket: b.Name, Key: key, Size: size, Tier: TierS3, State: StateSealed})
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return ObjectList{}, fmt.Errorf("geds: list %s in the persistency tier: %w", b.Persistent, err)
	}
	merged := make([]ObjectInfo, 0, min(limit, len(page.Items)+len(fromS3)))
	i, j := 0, 0
	for len(merged) < limit && (i < len(page.Items) || j < len(fromS3)) {
		switch {
		case j == len(fromS3) || (i < len(page.Items) && page.Items[i].Key < fromS3[j].Key):
			merged = append(merged, page.Items[i])
			i++
		case i == len(page.Items) || fromS3[j].Key < page.Items[i].Key:
			merged = append(merged, fromS3[j])
			j++
		default: // the same key in both
			merged = append(merged, page.Items[i])
			i, j = i+1, j+1
		}
	}
	out := ObjectList{Items: merged}
	if more := page.NextToken != "" || s3More || i < len(page.Items) || j < len(fromS3); more && len(merged) > 0 {
		out.NextToken = merged[len(merged)-1].Key
	}
	return out, nil
}

// Delete removes an object everywhere: the persistency tier's copy first
// (so a failure there leaves the object whole), then its record, then the
// holder's tier-0 copy.
func (c *Client) Delete(ctx context.Context, bucket, key string) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	o, err := c.meta.GetObject(ctx, bucket, key)
	notFound := errors.Is(err, metadata.ErrNotFound)
	if err != nil && !notFound {
		return fmt.Errorf("geds: delete: %w", err)
	}
	b, err := c.meta.GetBucket(ctx, bucket)
	if err != nil {
		return fmt.Errorf("geds: delete: %w", err)
	}
	if notFound && !b.Mounted {
		return fmt.Errorf("geds: delete %s/%s: %w", bucket, key, metadata.ErrNotFound)
	}
	if b.Mounted || o.Tier == TierS3 || o.Tier == TierBoth || o.StaleS3 {
		if c.opts.Persistent == nil {
			return fmt.Errorf("geds: delete %s/%s: it has a copy in the persistency tier: %w", bucket, key, ErrNoPersistent)
		}
		err := c.opts.Persistent.Delete(ctx, b.Persistent, key)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("geds: delete %s/%s from the persistency tier: %w", b.Persistent, key, err)
		}
		if errors.Is(err, fs.ErrNotExist) && notFound {
			return fmt.Errorf("geds: delete %s/%s: %w", bucket, key, metadata.ErrNotFound)
		}
	}
	if notFound {
		return nil
	}
	deleted, err := c.meta.DeleteObject(ctx, bucket, key)
	if err != nil {
		return fmt.Errorf("geds: delete: %w", err)
	}
	c.dropCopy(ctx, deleted)
	return nil
}

// Rename moves a sealed object that this node holds in its tier 0 alone
// (not yet persisted or spilled) to toBucket/toKey, replacing the object
// there in one step: readers of toBucket/toKey find the old object until
// then and the moved one after, never none, and a reader already open on
// the old object goes on reading it. The old object's tier-0 copy is
// dropped; its copy in the persistency tier, if any, is overwritten when
// the new one gets there, or deleted with it. An object not in this node's
// tier 0 alone fails with ErrNotLocal; a target still being written fails
// with ErrExists.
func (c *Client) Rename(ctx context.Context, fromBucket, fromKey, toBucket, toKey string) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	what := fmt.Sprintf("geds: rename %s/%s to %s/%s", fromBucket, fromKey, toBucket, toKey)
	o, err := c.meta.GetObject(ctx, fromBucket, fromKey)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if o.State != StateSealed {
		return fmt.Errorf("%s: %w", what, ErrNotSealed)
	}
	if !c.isMe(o.Holder) || o.Tier != TierLocal {
		return fmt.Errorf("%s: %w", what, ErrNotLocal)
	}
	// The spiller must not take the object while its name here and at the
	// metadata server differ.
	release, err := c.t0.Hold(o.ID)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", what, ErrNotLocal, err)
	}
	defer release()
	res, err := c.replace(ctx, o, toBucket, toKey)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if res.Replaced != nil {
		c.dropCopy(ctx, *res.Replaced)
	}
	return nil
}

// replace renames o at the metadata server, then in tier 0. Renames on
// this node take turns, so that two of them onto one key name their lives
// in tier 0 in the order the metadata server took them.
func (c *Client) replace(ctx context.Context, o ObjectInfo, toBucket, toKey string) (metadata.ReplaceResult, error) {
	c.renames.Lock()
	defer c.renames.Unlock()
	node, inc := c.holder()
	res, err := c.meta.ReplaceObject(ctx, toBucket, toKey, metadata.ReplaceRequest{
		FromBucket: o.Bucket, FromKey: o.Key, ID: o.ID, Node: node, Incarnation: inc,
	})
	if err != nil {
		return res, err
	}
	err = c.t0.Rename(o.ID, toBucket, toKey)
	if errors.Is(err, fs.ErrNotExist) {
		// Another node replaced this life already and had it dropped:
		// the rename happened, and was overtaken.
		err = nil
	}
	return res, err
}

// dropCopy removes the tier-0 copy of an object that this node's metadata
// no longer lists there: here directly, on another node by asking it.
// A copy left behind on an unreachable node is harmless: it is never
// served (peers ask by id) and goes when that node restarts.
func (c *Client) dropCopy(ctx context.Context, o ObjectInfo) {
	if o.Holder == nil {
		return
	}
	if c.isMe(o.Holder) {
		if c.t0.Remove(o.Bucket, o.Key, o.ID) == nil {
			c.room.notify()
		}
		return
	}
	if o.Holder.PeerURL == "" {
		return
	}
	if err := c.peers.Drop(ctx, o.Holder.PeerURL, o.Bucket, o.Key, o.ID); err != nil && !errors.Is(err, peer.ErrNotHeld) {
		c.log.Warn("GEDS could not ask the holder to drop its copy", "bucket", o.Bucket, "key", o.Key, "holder", o.Holder.Node, "err", err)
	}
}

// notifier wakes every waiter at once: wait returns a channel that the
// next notify closes.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}

package metadata

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/httpapi"
)

// Config configures the metadata service.
type Config struct {
	// HolderTimeout is the heartbeat silence after which a holder is dead;
	// 0 means 10 s (five missed heartbeats at the clients' default 2 s).
	HolderTimeout time.Duration
	// SweepInterval is how often Run looks for silent holders; 0 means a
	// quarter of HolderTimeout. Reads settle a dead holder's objects by
	// themselves, so the sweep only bounds how stale the store gets.
	SweepInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service is the GEDS metadata server as a continuum component.
type Service struct {
	cfg Config
	log *slog.Logger
	reg *registry
}

var _ component.Component = (*Service)(nil)

// NewService returns a metadata service; Setup connects it to a host.
func NewService(cfg Config) *Service {
	if cfg.HolderTimeout <= 0 {
		cfg.HolderTimeout = 10 * time.Second
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = cfg.HolderTimeout / 4
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg}
}

// Name implements component.Component.
func (s *Service) Name() string { return "geds-metadata" }

// Setup mounts the API under /geds/v1 and the metadata metrics.
func (s *Service) Setup(h *component.Host) error {
	if h.Store == nil {
		return errors.New("geds metadata: the host has no store")
	}
	s.log = h.Log.With("component", s.Name())
	s.reg = newRegistry(h.Store, s.cfg.HolderTimeout, s.cfg.Now)
	s.routes(h)
	if err := h.Metrics.Register(newCollector(s.reg, s.log)); err != nil {
		return fmt.Errorf("geds metadata metrics: %w", err)
	}
	h.Announce(s.Name(), "GEDS metadata API", h.ControlPlaneURL+"/geds/v1")
	return nil
}

// Run declares silent holders dead every SweepInterval until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if s.reg == nil {
		return errors.New("geds metadata: Run before Setup")
	}
	ticker := time.NewTicker(s.cfg.SweepInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		n, err := s.reg.sweep(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("sweeping GEDS holders", "err", err)
		}
		if n > 0 {
			s.log.Info("GEDS holders declared dead", "count", n)
		}
	}
}

// routes mounts the API (docs/formats/geds-metadata.md):
//
//	GET    /geds/v1/buckets
//	PUT    /geds/v1/buckets/{bucket}
//	GET    /geds/v1/buckets/{bucket}
//	DELETE /geds/v1/buckets/{bucket}
//	GET    /geds/v1/buckets/{bucket}/objects?prefix=&token=&limit=
//	PUT    /geds/v1/buckets/{bucket}/objects/{key}
//	GET    /geds/v1/buckets/{bucket}/objects/{key}
//	DELETE /geds/v1/buckets/{bucket}/objects/{key}
//	POST   /geds/v1/buckets/{bucket}/objects/{key}/seal
//	POST   /geds/v1/buckets/{bucket}/objects/{key}/tier
//	GET    /geds/v1/holders
//	PUT    /geds/v1/holders/{node}
//	POST   /geds/v1/holders/{node}/heartbeat
//	POST   /geds/v1/holders/{node}/leave
func (s *Service) routes(h *component.Host) {
	const b, o = "/geds/v1/buckets/{bucket}", "/geds/v1/buckets/{bucket}/objects/{key}"
	srv := h.Server
	srv.HandleFunc("GET /geds/v1/buckets", s.handle(s.listBuckets))
	srv.HandleFunc("PUT "+b, s.handle(s.createBucket))
	srv.HandleFunc("GET "+b, s.handle(s.getBucket))
	srv.HandleFunc("DELETE "+b, s.handle(s.deleteBucket))
	srv.HandleFunc("GET "+b+"/objects", s.handle(s.listObjects))
	srv.HandleFunc("PUT "+o, s.handle(s.createObject))
	srv.HandleFunc("GET "+o, s.handle(s.getObject))
	srv.HandleFunc("DELETE "+o, s.handle(s.deleteObject))
	srv.HandleFunc("POST "+o+"/seal", s.handle(s.sealObject))
	srv.HandleFunc("POST "+o+"/tier", s.handle(s.setTier))
	srv.HandleFunc("POST "+o+"/replace", s.handle(s.replaceObject))
	srv.HandleFunc("GET /geds/v1/holders", s.handle(s.listHolders))
	srv.HandleFunc("PUT /geds/v1/holders/{node}", s.handle(s.register))
	srv.HandleFunc("POST /geds/v1/holders/{node}/heartbeat", s.handle(s.heartbeat))
	srv.HandleFunc("POST /geds/v1/holders/{node}/leave", s.handle(s.leave))
}

// handle adapts a handler returning (status, body, error) to http.
func (s *Service) handle(fn httpapi.HandlerFunc) http.HandlerFunc {
	return httpapi.Handle(s.log, apiError, fn)
}

// Reasons in error answers; Client maps them back to the sentinel errors.
const (
	reasonNotFound       = "NotFound"
	reasonAlreadyExists  = "AlreadyExists"
	reasonLost           = "Lost"
	reasonConflict       = "Conflict"
	reasonHolderDead     = "HolderDead"
	reasonBucketNotEmpty = "BucketNotEmpty"
	reasonInvalidName    = "InvalidName"
	reasonBadRequest     = "BadRequest"
)

// apiError maps the service's errors to HTTP ones.
func apiError(err error) error {
	var done *httpapi.Error
	if errors.As(err, &done) {
		return err
	}
	for _, m := range []struct {
		err    error
		code   int
		reason string
	}{
		{ErrInvalidName, http.StatusBadRequest, reasonInvalidName},
		{ErrNotFound, http.StatusNotFound, reasonNotFound},
		{ErrExists, http.StatusConflict, reasonAlreadyExists},
		{ErrLost, http.StatusGone, reasonLost},
		{ErrHolderDead, http.StatusConflict, reasonHolderDead},
		{ErrBucketNotEmpty, http.StatusConflict, reasonBucketNotEmpty},
		{ErrConflict, http.StatusConflict, reasonConflict},
		{errBadRequest, http.StatusBadRequest, reasonBadRequest},
	} {
		if errors.Is(err, m.err) {
			return &httpapi.Error{Code: m.code, Reason: m.reason, Err: err}
		}
	}
	return err
}

// errBadRequest marks request errors that are not about names.
var errBadRequest = errors.New("bad request")

func badRequest(err error) error { return fmt.Errorf("%w (%w)", err, errBadRequest) }

func (s *Service) listBuckets(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	items, err := s.reg.listBuckets(r.Context())
	return http.StatusOK, BucketList{Items: items}, err
}

func (s *Service) createBucket(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req CreateBucketRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return 0, nil, err
	}
	b, err := s.reg.createBucket(r.Context(), r.PathValue("bucket"), req)
	if err == nil {
		s.log.Info("GEDS bucket created", "bucket", b.Name, "persistent", b.Persistent, "mounted", b.Mounted)
	}
	return http.StatusCreated, b, err
}

func (s *Service) getBucket(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	b, err := s.reg.getBucket(r.Context(), r.PathValue("bucket"))
	return http.StatusOK, b, err
}

func (s *Service) deleteBucket(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, s.reg.deleteBucket(r.Context(), r.PathValue("bucket"))
}

func (s *Service) listObjects(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, nil, badRequest(fmt.Errorf("limit %q: want a non-negative integer", v))
		}
		limit = n
	}
	list, err := s.reg.listObjects(r.Context(), r.PathValue("bucket"), q.Get("prefix"), q.Get("token"), limit)
	return http.StatusOK, list, err
}

func (s *Service) createObject(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req CreateObjectRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return 0, nil, err
	}
	o, err := s.reg.createObject(r.Context(), r.PathValue("bucket"), r.PathValue("key"), req)
	return http.StatusCreated, o, err
}

func (s *Service) getObject(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	o, err := s.reg.getObject(r.Context(), r.PathValue("bucket"), r.PathValue("key"))
	return http.StatusOK, o, err
}

func (s *Service) deleteObject(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	o, err := s.reg.deleteObject(r.Context(), r.PathValue("bucket"), r.PathValue("key"))
	return http.StatusOK, o, err
}

func (s *Service) sealObject(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req SealRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return 0, nil, err
	}
	o, err := s.reg.sealObject(r.Context(), r.PathValue("bucket"), r.PathValue("key"), req)
	return http.StatusOK, o, err
}

func (s *Service) setTier(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req TierRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return 0, nil, err
	}
	o, err := s.reg.setTier(r.Context(), r.PathValue("bucket"), r.PathValue("key"), req)
	return http.StatusOK, o, err
}

func (s *Service) replaceObject(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req ReplaceRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return 0, nil, err
	}
	res, err := s.reg.replaceObject(r.Context(), r.PathValue("bucket"), r.PathValue("key"), req)
	return http.StatusOK, res, err
}

func (s *Service) listHolders(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	items, err := s.reg.listHolders(r.Context())
	return http.StatusOK, HolderList{Items: items}, err
}

func (s *Service) register(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req RegisterRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return 0, nil, err
	}
	h, err := s.reg.register(r.Context(), r.PathValue("node"), req)
	if err == nil {
		s.log.Info("GEDS holder registered", "node", h.Node, "peer", h.PeerURL, "incarnation", h.Incarnation)
	}
	return http.StatusOK, h, err
}

func (s *Service) heartbeat(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req IncarnationRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return 0, nil, err
	}
	h, err := s.reg.heartbeat(r.Context(), r.PathValue("node"), req.Incarnation)
	return http.StatusOK, h, err
}

func (s *Service) leave(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req IncarnationRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return 0, nil, err
	}
	if err := s.reg.leave(r.Context(), r.PathValue("node"), req.Incarnation); err != nil {
		return 0, nil, err
	}
	s.log.Info("GEDS holder left", "node", r.PathValue("node"))
	return http.StatusNoContent, nil, nil
}

package streamapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/internal/httpapi"
	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/lts"
)

// maxAppendBody bounds an append's body: stream.MaxAppendBytes of events
// in base64, and room for the JSON around them.
const maxAppendBody = stream.MaxAppendBytes/3*4 + 1<<20

// Mux is where routes are registered: an *http.ServeMux or the shared
// server (internal/httpserver).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Handler serves the API of one stream.Service (a Store or a cluster).
type Handler struct {
	s   stream.Service
	log *slog.Logger

	mu      sync.Mutex
	readers map[readerKey]*session
}

type readerKey struct{ group, reader string }

// session is a reader that joined through the API; mu makes its reads one
// at a time, as a stream.Reader expects.
type session struct {
	mu sync.Mutex
	r  stream.GroupReader
}

// NewHandler returns the API of s.
func NewHandler(s stream.Service, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{s: s, log: log, readers: map[readerKey]*session{}}
}

// Register mounts the routes on m (docs/formats/stream-api.md).
func (h *Handler) Register(m Mux) {
	routes := map[string]func(*http.Request) (int, any, error){
		"GET " + Base + "/scopes":                                                h.listScopes,
		"PUT " + Base + "/scopes/{scope}":                                        h.createScope,
		"DELETE " + Base + "/scopes/{scope}":                                     h.deleteScope,
		"GET " + Base + "/scopes/{scope}/streams":                                h.listStreams,
		"PUT " + Base + "/scopes/{scope}/streams/{stream}":                       h.createStream,
		"GET " + Base + "/scopes/{scope}/streams/{stream}":                       h.getStream,
		"DELETE " + Base + "/scopes/{scope}/streams/{stream}":                    h.deleteStream,
		"POST " + Base + "/scopes/{scope}/streams/{stream}/events":               h.appendEvents,
		"GET " + Base + "/scopes/{scope}/streams/{stream}/segments/{seg}/events": h.readSegment,
		"POST " + Base + "/scopes/{scope}/streams/{stream}/truncate":             h.truncate,
		"POST " + Base + "/scopes/{scope}/streams/{stream}/scale":                h.scale,
		"GET " + Base + "/groups":                                                h.listGroups,
		"PUT " + Base + "/groups/{group}":                                        h.createGroup,
		"GET " + Base + "/groups/{group}":                                        h.getGroup,
		"DELETE " + Base + "/groups/{group}":                                     h.deleteGroup,
		"POST " + Base + "/groups/{group}/checkpoint":                            h.checkpoint,
		"PUT " + Base + "/groups/{group}/readers/{reader}":                       h.join,
		"GET " + Base + "/groups/{group}/readers/{reader}/events":                h.readGroup,
		"DELETE " + Base + "/groups/{group}/readers/{reader}":                    h.leave,
		"GET " + Base + "/instances":                                             h.getInstances,
		"PUT " + Base + "/instances":                                             h.setInstances,
	}
	for pattern, fn := range routes {
		m.Handle(pattern, h.handle(fn))
	}
}

func (h *Handler) handle(fn func(*http.Request) (int, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		code, body, err := fn(r)
		if err != nil {
			if errors.Is(err, stream.ErrBackPressure) {
				w.Header().Set("Retry-After", "1")
			}
			httpapi.WriteError(w, h.log, h.apiError(err))
			return
		}
		if code == http.StatusNoContent {
			w.WriteHeader(code)
			return
		}
		if raw, ok := body.(rawBody); ok {
			raw.write(w, code)
			return
		}
		httpapi.WriteJSON(w, code, body)
	}
}

// apiError maps the store's errors to HTTP ones. The store's other errors
// are about the request (bad names, offsets, sizes) unless the store itself
// has failed.
func (h *Handler) apiError(err error) error {
	var done *httpapi.Error
	switch {
	case errors.As(err, &done):
		return err
	case errors.Is(err, stream.ErrNotFound):
		return httpapi.NotFound(err)
	case errors.Is(err, stream.ErrExists), errors.Is(err, stream.ErrSealed):
		return httpapi.Conflict(err)
	case errors.Is(err, stream.ErrTruncated):
		return &httpapi.Error{Code: http.StatusGone, Reason: "Truncated", Err: err}
	case errors.Is(err, stream.ErrBackPressure):
		return &httpapi.Error{Code: http.StatusServiceUnavailable, Reason: "BackPressure", Err: err}
	case errors.Is(err, lts.ErrUnavailable), errors.Is(err, stream.ErrClosed):
		return &httpapi.Error{Code: http.StatusServiceUnavailable, Reason: "Unavailable", Err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &httpapi.Error{Code: http.StatusServiceUnavailable, Reason: "Timeout", Err: err}
	case errors.Is(err, stream.ErrReaderClosed):
		return httpapi.NotFound(err)
	case h.s.Err() != nil:
		return err // internal: logged, 500
	}
	return httpapi.BadRequest(err)
}

func name(r *http.Request) stream.StreamName {
	return stream.StreamName{Scope: r.PathValue("scope"), Stream: r.PathValue("stream")}
}

func (h *Handler) listScopes(*http.Request) (int, any, error) {
	return http.StatusOK, List{Items: nonNil(h.s.Scopes())}, nil
}

func (h *Handler) createScope(r *http.Request) (int, any, error) {
	if err := h.s.CreateScope(r.Context(), r.PathValue("scope")); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, List{Items: []string{r.PathValue("scope")}}, nil
}

func (h *Handler) deleteScope(r *http.Request) (int, any, error) {
	err := h.s.DeleteScope(r.Context(), r.PathValue("scope"))
	if err != nil && !errors.Is(err, stream.ErrNotFound) {
		return 0, nil, httpapi.Conflict(err)
	}
	return http.StatusNoContent, nil, err
}

func (h *Handler) listStreams(r *http.Request) (int, any, error) {
	names, err := h.s.Streams(r.PathValue("scope"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, List{Items: nonNil(names)}, nil
}

func (h *Handler) createStream(r *http.Request) (int, any, error) {
	var spec StreamSpec
	if err := decodeLimited(r, httpapi.MaxBodyBytes, &spec); err != nil {
		return 0, nil, err
	}
	cfg, err := spec.config()
	if err != nil {
		return 0, nil, httpapi.BadRequest(err)
	}
	if err := h.s.CreateStream(r.Context(), name(r), cfg); err != nil {
		return 0, nil, err
	}
	info, err := h.s.Stream(name(r))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, streamFrom(info), nil
}

func (h *Handler) getStream(r *http.Request) (int, any, error) {
	info, err := h.s.Stream(name(r))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, streamFrom(info), nil
}

func (h *Handler) deleteStream(r *http.Request) (int, any, error) {
	err := h.s.DeleteStream(r.Context(), name(r))
	if err != nil && !errors.Is(err, stream.ErrNotFound) {
		return 0, nil, httpapi.Conflict(err)
	}
	return http.StatusNoContent, nil, err
}

func (h *Handler) appendEvents(r *http.Request) (int, any, error) {
	var req AppendRequest
	if isBinary(r.Header.Get("Content-Type")) {
		var err error
		if req, err = binaryAppend(r); err != nil {
			return 0, nil, err
		}
	} else if err := decodeLimited(r, maxAppendBody, &req); err != nil {
		return 0, nil, err
	}
	res, err := h.s.Append(r.Context(), stream.AppendRequest{
		Stream: name(r), RoutingKey: req.RoutingKey, Events: req.Events, WriterID: req.WriterID, Seq: req.Seq,
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, AppendResult{Segment: uint64(res.Segment), Offset: res.Offset, Duplicate: res.Duplicate}, nil
}

func (h *Handler) readSegment(r *http.Request) (int, any, error) {
	seg, err := strconv.ParseUint(r.PathValue("seg"), 10, 64)
	if err != nil {
		return 0, nil, httpapi.BadRequest(fmt.Errorf("segment %q: want the numeric segment id", r.PathValue("seg")))
	}
	q := r.URL.Query()
	from, err := intParam(q.Get("from"), "from", 0)
	if err != nil {
		return 0, nil, err
	}
	maxBytes, err := intParam(q.Get("maxBytes"), "maxBytes", 1<<20)
	if err != nil {
		return 0, nil, err
	}
	wait, err := waitParam(q.Get("wait"))
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	b, err := h.s.ReadSegment(ctx, name(r), stream.SegmentID(seg), from, stream.ReadOptions{MaxBytes: min(maxBytes, 8<<20), NoWait: wait == 0})
	if errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil {
		b, err = stream.Batch{Next: from}, nil // waited, nothing came
	}
	if err != nil {
		return 0, nil, err
	}
	if isBinary(r.Header.Get("Accept")) {
		return http.StatusOK, encodeEvents(b), nil
	}
	out := Events{Events: make([]Event, len(b.Events)), Next: b.Next, Sealed: b.Sealed, Successors: ids(b.Successors)}
	for i, e := range b.Events {
		out.Events[i] = eventFrom(e)
	}
	return http.StatusOK, out, nil
}

func (h *Handler) truncate(r *http.Request) (int, any, error) {
	var req TruncateRequest
	if err := decodeLimited(r, httpapi.MaxBodyBytes, &req); err != nil {
		return 0, nil, err
	}
	cut := stream.StreamCut{}
	for id, off := range req.Cut {
		cut[stream.SegmentID(id)] = off
	}
	if err := h.s.Truncate(r.Context(), name(r), cut); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// scale seals segments and creates their successors, in one of the
// request's three forms.
func (h *Handler) scale(r *http.Request) (int, any, error) {
	var req ScaleRequest
	if err := decodeLimited(r, httpapi.MaxBodyBytes, &req); err != nil {
		return 0, nil, err
	}
	forms := 0
	for _, given := range []bool{len(req.Seal) > 0 || len(req.Ranges) > 0, req.Split != nil, len(req.Merge) > 0} {
		if given {
			forms++
		}
	}
	if forms != 1 {
		return 0, nil, httpapi.BadRequest(errors.New(`scale: give exactly one of "seal" and "ranges", "split" (and "parts"), or "merge"`))
	}
	if req.Parts != 0 && req.Split == nil {
		return 0, nil, httpapi.BadRequest(errors.New(`scale: "parts" goes with "split"`))
	}
	var (
		created []stream.SegmentInfo
		err     error
	)
	switch {
	case req.Split != nil:
		parts := req.Parts
		if parts == 0 {
			parts = 2
		}
		created, err = h.s.SplitSegment(r.Context(), name(r), stream.SegmentID(*req.Split), parts)
	case len(req.Merge) > 0:
		created, err = h.s.MergeSegments(r.Context(), name(r), segmentIDs(req.Merge))
	default:
		created, err = h.s.Scale(r.Context(), name(r), segmentIDs(req.Seal), req.Ranges)
	}
	if err != nil {
		return 0, nil, err
	}
	out := ScaleResult{Segments: make([]Segment, len(created))}
	for i, seg := range created {
		out.Segments[i] = segmentFrom(seg)
		out.Epoch = seg.Epoch
	}
	return http.StatusOK, out, nil
}

func segmentIDs(in []uint64) []stream.SegmentID {
	out := make([]stream.SegmentID, len(in))
	for i, id := range in {
		out[i] = stream.SegmentID(id)
	}
	return out
}

func (h *Handler) listGroups(*http.Request) (int, any, error) {
	return http.StatusOK, List{Items: nonNil(h.s.ReaderGroups())}, nil
}

func (h *Handler) createGroup(r *http.Request) (int, any, error) {
	var req CreateGroupRequest
	if err := decodeLimited(r, httpapi.MaxBodyBytes, &req); err != nil {
		return 0, nil, err
	}
	sn, err := ParseStreamName(req.Stream)
	if err != nil {
		return 0, nil, httpapi.BadRequest(err)
	}
	g, err := h.s.CreateReaderGroup(r.Context(), r.PathValue("group"), sn)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, groupFrom(g), nil
}

func (h *Handler) getGroup(r *http.Request) (int, any, error) {
	g, err := h.s.ReaderGroup(r.PathValue("group"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, groupFrom(g), nil
}

// deleteGroup closes the group's readers that joined here, then deletes
// it.
func (h *Handler) deleteGroup(r *http.Request) (int, any, error) {
	group := r.PathValue("group")
	h.mu.Lock()
	for k, sess := range h.readers {
		if k.group == group {
			if err := sess.r.Close(r.Context()); err != nil && !errors.Is(err, stream.ErrReaderClosed) {
				h.mu.Unlock()
				return 0, nil, err
			}
			delete(h.readers, k)
		}
	}
	h.mu.Unlock()
	if err := h.s.DeleteReaderGroup(r.Context(), group); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (h *Handler) checkpoint(r *http.Request) (int, any, error) {
	g, err := h.s.ReaderGroup(r.PathValue("group"))
	if err != nil {
		return 0, nil, err
	}
	if _, err := g.Checkpoint(r.Context()); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, groupFrom(g), nil
}

// join makes a reader join a group; joining again is harmless.
func (h *Handler) join(r *http.Request) (int, any, error) {
	key := readerKey{r.PathValue("group"), r.PathValue("reader")}
	g, err := h.s.ReaderGroup(key.group)
	if err != nil {
		return 0, nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.readers[key]; ok {
		return http.StatusOK, groupFrom(g), nil
	}
	rd, err := g.Join(key.reader)
	if err != nil {
		return 0, nil, err
	}
	h.readers[key] = &session{r: rd}
	return http.StatusCreated, groupFrom(g), nil
}

func (h *Handler) session(r *http.Request) (readerKey, *session, error) {
	key := readerKey{r.PathValue("group"), r.PathValue("reader")}
	h.mu.Lock()
	defer h.mu.Unlock()
	sess, ok := h.readers[key]
	if !ok {
		return key, nil, httpapi.NotFound(fmt.Errorf("reader %q has not joined reader group %q here; join first", key.reader, key.group))
	}
	return key, sess, nil
}

// readGroup returns up to max events for a reader, waiting up to wait for
// the first one.
func (h *Handler) readGroup(r *http.Request) (int, any, error) {
	_, sess, err := h.session(r)
	if err != nil {
		return 0, nil, err
	}
	q := r.URL.Query()
	limit, err := intParam(q.Get("max"), "max", 100)
	if err != nil {
		return 0, nil, err
	}
	wait, err := waitParam(q.Get("wait"))
	if err != nil {
		return 0, nil, err
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	out := Events{Events: []Event{}}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	for int64(len(out.Events)) < max(limit, 1) {
		ev, err := sess.r.Read(ctx)
		if err != nil {
			if len(out.Events) > 0 || (errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil) {
				break
			}
			return 0, nil, err
		}
		out.Events = append(out.Events, eventFrom(ev))
		cancel() // after the first event take only what is ready
	}
	return http.StatusOK, out, nil
}

func (h *Handler) leave(r *http.Request) (int, any, error) {
	key, sess, err := h.session(r)
	if err != nil {
		return 0, nil, err
	}
	if err := sess.r.Close(r.Context()); err != nil && !errors.Is(err, stream.ErrReaderClosed) {
		return 0, nil, err
	}
	h.mu.Lock()
	delete(h.readers, key)
	h.mu.Unlock()
	return http.StatusNoContent, nil, nil
}

func groupFrom(g stream.Group) Group {
	out := Group{Name: g.Name(), Stream: g.Stream().String(), Positions: map[uint64]int64{}, Readers: nonNil(g.Readers())}
	for id, off := range g.Positions() {
		out.Positions[uint64(id)] = off
	}
	slices.Sort(out.Readers)
	return out
}

func decodeLimited(r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, limit+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return httpapi.BadRequest(fmt.Errorf("request body (at most %d bytes): %w", limit, err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return httpapi.BadRequest(errors.New("request body: unexpected data after the JSON value"))
	}
	return nil
}

func intParam(v, what string, def int64) (int64, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, httpapi.BadRequest(fmt.Errorf("%s %q: want a non-negative integer", what, v))
	}
	return n, nil
}

func waitParam(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > MaxWait {
		return 0, httpapi.BadRequest(fmt.Errorf("wait %q: want a duration from 0 to %s", v, MaxWait))
	}
	return d, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

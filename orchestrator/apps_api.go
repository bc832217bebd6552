package orchestrator

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/httpapi"
	"github.com/cloudskin/cloudskin/orchestrator/apps"
	"github.com/cloudskin/cloudskin/orchestrator/catalog"
	"github.com/cloudskin/cloudskin/orchestrator/cells"
)

// appRoutes mounts the catalog, applications, placements and migrations
// (every route is in openapi.yaml):
//
//	GET    /api/v1/blocks                          the catalog (?search=, ?type=, ?allVersions=true)
//	POST   /api/v1/blocks                          publish a block version
//	GET    /api/v1/blocks/{name}                   newest version
//	GET    /api/v1/blocks/{name}/versions          every version
//	GET    /api/v1/blocks/{name}/versions/{version}
//	DELETE /api/v1/blocks/{name}                   every version
//	DELETE /api/v1/blocks/{name}/versions/{version}
//	GET    /api/v1/applications
//	POST   /api/v1/applications                    create
//	GET    /api/v1/applications/{name}
//	PUT    /api/v1/applications/{name}             create or update (apply)
//	DELETE /api/v1/applications/{name}             delete; its replicas stop
//	GET    /api/v1/applications/{name}/logs        replicas' output (?component=, ?replica=)
//	GET    /api/v1/placements
//	GET    /api/v1/placements/{name}               an application's decisions
//	GET    /api/v1/migrations
//	POST   /api/v1/migrations                      move a component's replicas
//	GET    /api/v1/migrations/{name}
//
// Lists take ?limit=N&continue=TOKEN.
func (cp *ControlPlane) appRoutes(h *component.Host) {
	h.Server.HandleFunc("GET /api/v1/blocks", cp.handle(cp.listBlocks))
	h.Server.HandleFunc("POST /api/v1/blocks", cp.handle(cp.publishBlock))
	h.Server.HandleFunc("GET /api/v1/blocks/{name}", cp.handle(cp.getBlock))
	h.Server.HandleFunc("GET /api/v1/blocks/{name}/versions", cp.handle(cp.blockVersions))
	h.Server.HandleFunc("GET /api/v1/blocks/{name}/versions/{version}", cp.handle(cp.getBlock))
	h.Server.HandleFunc("DELETE /api/v1/blocks/{name}", cp.handle(cp.deleteBlock))
	h.Server.HandleFunc("DELETE /api/v1/blocks/{name}/versions/{version}", cp.handle(cp.deleteBlock))
	h.Server.HandleFunc("GET /api/v1/applications", cp.handle(cp.listApplications))
	h.Server.HandleFunc("POST /api/v1/applications", cp.handle(cp.createApplication))
	h.Server.HandleFunc("GET /api/v1/applications/{name}", cp.handle(cp.getApplication))
	h.Server.HandleFunc("PUT /api/v1/applications/{name}", cp.handle(cp.applyApplication))
	h.Server.HandleFunc("DELETE /api/v1/applications/{name}", cp.handle(cp.deleteApplication))
	h.Server.HandleFunc("GET /api/v1/applications/{name}/logs", cp.handle(cp.applicationLogs))
	h.Server.HandleFunc("GET /api/v1/placements", cp.handle(cp.listPlacements))
	h.Server.HandleFunc("GET /api/v1/placements/{name}", cp.handle(cp.getPlacement))
	h.Server.HandleFunc("GET /api/v1/migrations", cp.handle(cp.listMigrations))
	h.Server.HandleFunc("POST /api/v1/migrations", cp.handle(cp.createMigration))
	h.Server.HandleFunc("GET /api/v1/migrations/{name}", cp.handle(cp.getMigration))
}

// orchestratorError maps the catalog's and registry's errors to HTTP ones.
func orchestratorError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, catalog.ErrNotFound), errors.Is(err, apps.ErrNotFound):
		return httpapi.NotFound(err)
	case errors.Is(err, catalog.ErrInvalid), errors.Is(err, apps.ErrInvalid):
		return httpapi.Unprocessable(err)
	case errors.Is(err, catalog.ErrConflict):
		return httpapi.Conflict(err)
	}
	return err
}

func listOf(kind string) v1alpha1.TypeMeta {
	return v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: kind + "List"}
}

// maxLimit bounds ?limit=.
const maxLimit = 1000

// page cuts a list to the page ?limit= and ?continue= ask for, and
// returns the token of the next page ("" at the end). The token is the
// key of the last item served: the next page starts after that item, or,
// if it is gone, after the last item whose key sorts before it, so pages
// stay right when items come and go. The list must be in a stable order.
func page[T any](r *http.Request, items []T, key func(T) string) ([]T, string, error) {
	return pageBy(r, items, key, strings.Compare)
}

// pageBy is page for a list whose order is compare's order of the keys.
func pageBy[T any](r *http.Request, items []T, key func(T) string, compare func(a, b string) int) ([]T, string, error) {
	q := r.URL.Query()
	if tok := q.Get("continue"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			return nil, "", httpapi.BadRequest(fmt.Errorf("continue %q: not a token this API gave", tok))
		}
		after := string(raw)
		at := slices.IndexFunc(items, func(it T) bool { return key(it) == after })
		if at < 0 {
			at = slices.IndexFunc(items, func(it T) bool { return compare(key(it), after) > 0 }) - 1
			if at < -1 {
				at = len(items) - 1
			}
		}
		items = items[at+1:]
	}
	limit := 0
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return nil, "", httpapi.BadRequest(fmt.Errorf("limit %q: want 1 to %d", s, maxLimit))
		}
		limit = n
	}
	if limit == 0 || len(items) <= limit {
		return items, "", nil
	}
	return items[:limit], base64.RawURLEncoding.EncodeToString([]byte(key(items[limit-1]))), nil
}

func (cp *ControlPlane) listBlocks(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	q := r.URL.Query()
	all, err := strconv.ParseBool(cmp.Or(q.Get("allVersions"), "false"))
	if err != nil {
		return 0, nil, httpapi.BadRequest(fmt.Errorf("allVersions %q: want true or false", q.Get("allVersions")))
	}
	list, err := cp.catalog.List(r.Context(), catalog.Query{Search: q.Get("search"), Type: v1alpha1.BlockType(q.Get("type")), AllVersions: all})
	if err != nil {
		return 0, nil, err
	}
	items, next, err := pageBy(r, list, func(b v1alpha1.Block) string { return b.Ref() }, compareRefs)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v1alpha1.BlockList{TypeMeta: listOf(v1alpha1.KindBlock), Metadata: v1alpha1.ListMeta{Continue: next}, Items: nonNil(items)}, nil
}

func (cp *ControlPlane) publishBlock(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var b v1alpha1.Block
	if err := httpapi.DecodeJSON(w, r, &b); err != nil {
		return 0, nil, err
	}
	if b.Spec.Cell != nil && v1alpha1.ValidateDigest(b.Spec.Cell.Module) == nil {
		if f, err := cp.cells.OpenModule(b.Spec.Cell.Module); err != nil {
			return 0, nil, httpapi.Unprocessable(fmt.Errorf("spec.cell.module %s has not been uploaded (PUT /api/v1/modules/%s)", b.Spec.Cell.Module, b.Spec.Cell.Module))
		} else {
			f.Close()
		}
	}
	saved, created, err := cp.catalog.Publish(r.Context(), b)
	if err != nil {
		return 0, nil, orchestratorError(err)
	}
	if !created {
		w.Header().Set(v1alpha1.ApplyResultHeader, "unchanged")
		return http.StatusOK, saved, nil
	}
	w.Header().Set(v1alpha1.ApplyResultHeader, "created")
	cp.log.Info("block published", "block", saved.Ref(), "type", string(saved.Spec.Type))
	return http.StatusCreated, saved, nil
}

func (cp *ControlPlane) getBlock(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	b, err := cp.catalog.Get(r.Context(), r.PathValue("name"), r.PathValue("version"))
	return http.StatusOK, b, orchestratorError(err)
}

func (cp *ControlPlane) blockVersions(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	list, err := cp.catalog.Versions(r.Context(), r.PathValue("name"))
	if err != nil {
		return 0, nil, orchestratorError(err)
	}
	return http.StatusOK, v1alpha1.BlockList{TypeMeta: listOf(v1alpha1.KindBlock), Items: list}, nil
}

func (cp *ControlPlane) deleteBlock(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	if err := cp.catalog.Delete(r.Context(), r.PathValue("name"), r.PathValue("version")); err != nil {
		return 0, nil, orchestratorError(err)
	}
	return http.StatusNoContent, nil, nil
}

// listApplications answers the applications' stored JSON as it is (see
// apps.Registry.ListStored): the list every dashboard and client polls
// costs no decoding and encoding of each application.
func (cp *ControlPlane) listApplications(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	list, err := cp.apps.ListStored(r.Context())
	if err != nil {
		return 0, nil, err
	}
	items, next, err := page(r, list, func(a apps.Stored) string { return a.Name })
	if err != nil {
		return 0, nil, err
	}
	raw := make([]json.RawMessage, len(items))
	for i, it := range items {
		raw[i] = it.JSON
	}
	return http.StatusOK, storedList{TypeMeta: listOf(v1alpha1.KindApplication), Metadata: v1alpha1.ListMeta{Continue: next}, Items: raw}, nil
}

// storedList is a list answer whose items are stored JSON documents, in
// the shape of v1alpha1's lists.
type storedList struct {
	v1alpha1.TypeMeta `json:",inline"`
	Metadata          v1alpha1.ListMeta `json:"metadata,omitzero"`
	Items             []json.RawMessage `json:"items"`
}

// checkBlocks refuses an application whose components name blocks the
// catalog does not have, or set parameters their blocks do not take.
func (cp *ControlPlane) checkBlocks(r *http.Request, a v1alpha1.Application) error {
	for i, c := range a.Spec.Components {
		res := cp.resolve(r.Context(), c)
		if res.Err != nil {
			return httpapi.Unprocessable(fmt.Errorf("spec.components[%d] (%s): %w", i, c.Name, res.Err))
		}
	}
	return nil
}

func (cp *ControlPlane) createApplication(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var a v1alpha1.Application
	if err := httpapi.DecodeJSON(w, r, &a); err != nil {
		return 0, nil, err
	}
	if err := cp.checkApplication(r, a); err != nil {
		return 0, nil, err
	}
	saved, err := cp.apps.Create(r.Context(), a)
	if errors.Is(err, apps.ErrExists) {
		return 0, nil, httpapi.Conflict(fmt.Errorf("application %s exists; PUT /api/v1/applications/%s updates it", a.Metadata.Name, a.Metadata.Name))
	}
	if err != nil {
		return 0, nil, orchestratorError(err)
	}
	w.Header().Set(v1alpha1.ApplyResultHeader, "created")
	cp.log.Info("application created", "application", saved.Metadata.Name)
	return http.StatusCreated, saved, nil
}

func (cp *ControlPlane) applyApplication(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var a v1alpha1.Application
	if err := httpapi.DecodeJSON(w, r, &a); err != nil {
		return 0, nil, err
	}
	if name := r.PathValue("name"); a.Metadata.Name != name {
		return 0, nil, httpapi.BadRequest(fmt.Errorf("metadata.name %q does not match the URL's %q", a.Metadata.Name, name))
	}
	return cp.saveApplication(w, r, a)
}

// checkApplication refuses an application that is invalid or names blocks
// the catalog does not have.
func (cp *ControlPlane) checkApplication(r *http.Request, a v1alpha1.Application) error {
	if err := a.Validate(); err != nil {
		return httpapi.Unprocessable(err)
	}
	return cp.checkBlocks(r, a)
}

func (cp *ControlPlane) saveApplication(w http.ResponseWriter, r *http.Request, a v1alpha1.Application) (int, any, error) {
	if err := cp.checkApplication(r, a); err != nil {
		return 0, nil, err
	}
	saved, what, err := cp.apps.Apply(r.Context(), a)
	if err != nil {
		return 0, nil, orchestratorError(err)
	}
	w.Header().Set(v1alpha1.ApplyResultHeader, what)
	if what == "created" {
		cp.log.Info("application created", "application", saved.Metadata.Name)
		return http.StatusCreated, saved, nil
	}
	if what == "configured" {
		cp.log.Info("application updated", "application", saved.Metadata.Name, "generation", saved.Metadata.Generation)
	}
	return http.StatusOK, saved, nil
}

func (cp *ControlPlane) getApplication(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	a, err := cp.apps.Get(r.Context(), r.PathValue("name"))
	return http.StatusOK, a, orchestratorError(err)
}

func (cp *ControlPlane) deleteApplication(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	if err := cp.apps.Delete(r.Context(), r.PathValue("name")); err != nil {
		return 0, nil, orchestratorError(err)
	}
	cp.log.Info("application deleted", "application", r.PathValue("name"))
	return http.StatusNoContent, nil, nil
}

// applicationLogs returns the output the replicas' workloads reported,
// oldest workload first within each replica.
func (cp *ControlPlane) applicationLogs(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	name := r.PathValue("name")
	a, err := cp.apps.Get(r.Context(), name)
	if err != nil {
		return 0, nil, orchestratorError(err)
	}
	q := r.URL.Query()
	if c := q.Get("component"); c != "" {
		if _, ok := a.Component(c); !ok {
			return 0, nil, httpapi.NotFound(fmt.Errorf("application %s has no component %q", name, c))
		}
	}
	runs, err := cp.cells.List(r.Context(), cells.Filter{})
	if err != nil {
		return 0, nil, err
	}
	out := v1alpha1.ApplicationLogs{TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindApplicationLogs}, Application: name, Entries: []v1alpha1.LogEntry{}}
	for _, run := range runs {
		w, ok := workloadOf(run)
		if !ok || w.Application != name || (q.Get("component") != "" && w.Component != q.Get("component")) ||
			(q.Get("replica") != "" && strconv.Itoa(w.Index) != q.Get("replica")) {
			continue
		}
		out.Entries = append(out.Entries, v1alpha1.LogEntry{
			Component: w.Component, Replica: w.Index, Workload: w.Name, Site: run.Status.Site,
			Phase: string(run.Status.Phase), Output: run.Status.Output,
		})
	}
	slices.SortFunc(out.Entries, func(x, y v1alpha1.LogEntry) int {
		return strings.Compare(fmt.Sprintf("%s/%06d/%s", x.Component, x.Replica, x.Workload), fmt.Sprintf("%s/%06d/%s", y.Component, y.Replica, y.Workload))
	})
	return http.StatusOK, out, nil
}

func (cp *ControlPlane) listPlacements(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	list, err := cp.apps.ListPlacements(r.Context())
	if err != nil {
		return 0, nil, err
	}
	items, next, err := page(r, list, func(p v1alpha1.Placement) string { return p.Metadata.Name })
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v1alpha1.PlacementList{TypeMeta: listOf(v1alpha1.KindPlacement), Metadata: v1alpha1.ListMeta{Continue: next}, Items: nonNil(items)}, nil
}

func (cp *ControlPlane) getPlacement(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	p, err := cp.apps.GetPlacement(r.Context(), r.PathValue("name"))
	return http.StatusOK, p, orchestratorError(err)
}

func (cp *ControlPlane) listMigrations(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	list, err := cp.apps.ListMigrations(r.Context())
	if err != nil {
		return 0, nil, err
	}
	items, next, err := page(r, list, func(m v1alpha1.Migration) string { return m.Metadata.Name })
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v1alpha1.MigrationList{TypeMeta: listOf(v1alpha1.KindMigration), Metadata: v1alpha1.ListMeta{Continue: next}, Items: nonNil(items)}, nil
}

func (cp *ControlPlane) createMigration(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var m v1alpha1.Migration
	if err := httpapi.DecodeJSON(w, r, &m); err != nil {
		return 0, nil, err
	}
	saved, err := cp.apps.CreateMigration(r.Context(), m)
	if err != nil {
		return 0, nil, orchestratorError(err)
	}
	cp.log.Info("migration requested", "migration", saved.Metadata.Name, "application", saved.Spec.Application, "component", saved.Spec.Component, "to", saved.Spec.To)
	return http.StatusCreated, saved, nil
}

func (cp *ControlPlane) getMigration(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	m, err := cp.apps.GetMigration(r.Context(), r.PathValue("name"))
	return http.StatusOK, m, orchestratorError(err)
}

// compareRefs orders "name@version" as the catalog lists blocks: by
// name, then by semantic version.
func compareRefs(a, b string) int {
	an, av, _ := strings.Cut(a, "@")
	bn, bv, _ := strings.Cut(b, "@")
	return cmp.Or(strings.Compare(an, bn), v1alpha1.CompareVersions(av, bv))
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

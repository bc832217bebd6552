package orchestrator

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/httpapi"
	"github.com/cloudskin/cloudskin/orchestrator/cells"
)

// cellRoutes mounts modules and cell runs:
//
//	PUT  /api/v1/modules/{digest}        upload a module (body: the .wasm); digest is its SHA-256
//	GET  /api/v1/modules/{digest}        download it (agents)
//	POST /api/v1/cells                   ask for a cell run at a site
//	GET  /api/v1/cells?site=S&at=A&phase=P  list cell runs (agents poll): spec.site, status.site, status.phase
//	POST /api/v1/cells/{name}/migrate    move a running cell: {"to": SITE}
//	PUT  /api/v1/cells/{name}/snapshot   a migrating cell's snapshot (source agent)
//	GET  /api/v1/cells/{name}/snapshot   fetch it (destination agent)
//	GET  /api/v1/cells/{name}            one cell run
//	DELETE /api/v1/cells/{name}          forget a run; its agent stops the cell
//	PUT  /api/v1/cells/{name}/status     report status (agents)
func (cp *ControlPlane) cellRoutes(h *component.Host) {
	h.Server.HandleFunc("PUT /api/v1/modules/{digest}", cp.handle(cp.putModule))
	h.Server.HandleFunc("GET /api/v1/modules/{digest}", cp.getModule)
	h.Server.HandleFunc("POST /api/v1/cells", cp.handle(cp.createCell))
	h.Server.HandleFunc("GET /api/v1/cells", cp.handle(cp.listCells))
	h.Server.HandleFunc("GET /api/v1/cells/{name}", cp.handle(cp.getCell))
	h.Server.HandleFunc("DELETE /api/v1/cells/{name}", cp.handle(cp.deleteCell))
	h.Server.HandleFunc("PUT /api/v1/cells/{name}/status", cp.handle(cp.putCellStatus))
	h.Server.HandleFunc("POST /api/v1/cells/{name}/migrate", cp.handle(cp.migrateCell))
	h.Server.HandleFunc("PUT /api/v1/cells/{name}/snapshot", cp.handle(cp.putSnapshot))
	h.Server.HandleFunc("GET /api/v1/cells/{name}/snapshot", cp.getSnapshot)
	h.Server.HandleFunc("PUT /api/v1/cells/{name}/checkpoints/{id}", cp.handle(cp.putCheckpoint))
}

func (cp *ControlPlane) deleteCell(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	if err := cp.cells.Delete(r.Context(), r.PathValue("name")); err != nil {
		return 0, nil, cellError(err)
	}
	return http.StatusNoContent, nil, nil
}

func (cp *ControlPlane) migrateCell(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req v1alpha1.CellMigrationRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return 0, nil, err
	}
	if _, err := cp.sites.Get(r.Context(), req.To); err != nil {
		return 0, nil, httpapi.BadRequest(fmt.Errorf("to: %w", err))
	}
	if req.Rank != nil {
		c, err := cp.cells.MigrateRank(r.Context(), r.PathValue("name"), *req.Rank, req.To)
		if err != nil {
			return 0, nil, cellError(err)
		}
		cp.log.Info("rank migration requested", "cell", c.Metadata.Name, "rank", *req.Rank, "from", c.Status.Site, "to", req.To)
		return http.StatusAccepted, c, nil
	}
	c, err := cp.cells.Migrate(r.Context(), r.PathValue("name"), req.To)
	if err != nil {
		return 0, nil, cellError(err)
	}
	cp.log.Info("cell migration requested", "cell", c.Metadata.Name, "from", c.Status.Site, "to", req.To)
	return http.StatusAccepted, c, nil
}

func (cp *ControlPlane) putSnapshot(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	q := r.URL.Query()
	if _, err := cp.cells.PutSnapshot(r.Context(), r.PathValue("name"), q.Get("claim"), q.Get("checkpoint"), r.Body); err != nil {
		return 0, nil, cellError(err)
	}
	return http.StatusNoContent, nil, nil
}

func (cp *ControlPlane) putCheckpoint(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	if _, err := cp.cells.PutCheckpoint(r.Context(), r.PathValue("name"), r.URL.Query().Get("claim"), r.PathValue("id"), r.Body); err != nil {
		return 0, nil, cellError(err)
	}
	return http.StatusNoContent, nil, nil
}

func (cp *ControlPlane) getSnapshot(w http.ResponseWriter, r *http.Request) {
	f, err := cp.cells.OpenSnapshot(r.PathValue("name"))
	if err != nil {
		httpapi.WriteError(w, cp.log, cellError(err))
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	io.Copy(w, f)
}

// cellError maps the cells registry's errors to HTTP ones.
func cellError(err error) error {
	switch {
	case errors.Is(err, cells.ErrNotFound):
		return httpapi.NotFound(err)
	case errors.Is(err, cells.ErrInvalid):
		return httpapi.BadRequest(err)
	case errors.Is(err, cells.ErrConflict):
		return httpapi.Conflict(err)
	case errors.Is(err, cells.ErrUnavailable):
		// The checkpoint storage (GEDS and its S3) is away for now; the
		// agent tries again at its next checkpoint.
		return &httpapi.Error{Code: http.StatusServiceUnavailable, Reason: "Unavailable", Err: err}
	}
	return err
}

func (cp *ControlPlane) putModule(w http.ResponseWriter, r *http.Request) (int, any, error) {
	body := http.MaxBytesReader(w, r.Body, cells.MaxModuleBytes)
	if err := cp.cells.PutModule(r.PathValue("digest"), body); err != nil {
		if tooLarge := new(http.MaxBytesError); errors.As(err, &tooLarge) {
			return 0, nil, &httpapi.Error{Code: http.StatusRequestEntityTooLarge, Reason: "TooLarge",
				Err: fmt.Errorf("module larger than %d bytes", cells.MaxModuleBytes)}
		}
		return 0, nil, cellError(err)
	}
	return http.StatusNoContent, nil, nil
}

func (cp *ControlPlane) getModule(w http.ResponseWriter, r *http.Request) {
	f, err := cp.cells.OpenModule(r.PathValue("digest"))
	if err != nil {
		httpapi.WriteError(w, cp.log, cellError(err))
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/wasm")
	if _, err := io.Copy(w, f); err != nil {
		cp.log.Debug("sending module", "err", err)
	}
}

func (cp *ControlPlane) createCell(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var c v1alpha1.CellRun
	if err := httpapi.DecodeJSON(w, r, &c); err != nil {
		return 0, nil, err
	}
	if c.Spec.Place {
		if c.Spec.Site != "" || len(c.Spec.RankSites) > 0 {
			return 0, nil, httpapi.BadRequest(errors.New("spec.place: leave spec.site and spec.rankSites to the planner"))
		}
		if err := cp.place(r.Context(), &c); err != nil {
			return 0, nil, err
		}
	}
	if _, err := cp.sites.Get(r.Context(), c.Spec.Site); err != nil {
		return 0, nil, httpapi.BadRequest(fmt.Errorf("spec.site: %w", err))
	}
	for i, rs := range c.Spec.RankSites {
		if _, err := cp.sites.Get(r.Context(), rs.Site); err != nil {
			return 0, nil, httpapi.BadRequest(fmt.Errorf("spec.rankSites[%d].site: %w", i, err))
		}
	}
	created, err := cp.cells.Create(r.Context(), c)
	if err != nil {
		return 0, nil, cellError(err)
	}
	cp.log.Info("cell run requested", "cell", created.Metadata.Name, "site", created.Spec.Site, "module", created.Spec.Module)
	return http.StatusCreated, created, nil
}

// maxWait bounds how long a list waits for a change (?wait=).
const maxWait = time.Minute

// listCells lists cell runs. With ?resourceVersion=V&wait=D it first waits
// up to D for the runs to change since version V (a long poll), so an
// agent learns of a new or moving run at once without polling fast.
func (cp *ControlPlane) listCells(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	q := r.URL.Query()
	if err := cp.waitForChange(r, q.Get("resourceVersion"), q.Get("wait")); err != nil {
		return 0, nil, err
	}
	version, _ := cp.cells.Changes()
	list, err := cp.cells.List(r.Context(), cells.Filter{
		Site: q.Get("site"), At: q.Get("at"), Phase: v1alpha1.CellPhase(q.Get("phase")), Involves: q.Get("involves"),
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v1alpha1.CellRunList{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: "CellRunList"},
		Metadata: v1alpha1.ListMeta{ResourceVersion: version},
		Items:    list,
	}, nil
}

// waitForChange waits, up to wait, until the cell runs are at another
// version than since; it returns at once if they are already.
func (cp *ControlPlane) waitForChange(r *http.Request, since, wait string) error {
	if since == "" || wait == "" {
		return nil
	}
	d, err := time.ParseDuration(wait)
	if err != nil || d < 0 || d > maxWait {
		return httpapi.BadRequest(fmt.Errorf("wait %q: want a duration from 0s to %s", wait, maxWait))
	}
	version, changed := cp.cells.Changes()
	if version != since {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-changed:
	case <-timer.C:
	case <-r.Context().Done():
	}
	return nil
}

func (cp *ControlPlane) getCell(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	c, err := cp.cells.Get(r.Context(), r.PathValue("name"))
	return http.StatusOK, c, cellError(err)
}

func (cp *ControlPlane) putCellStatus(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var st v1alpha1.CellRunStatus
	if err := httpapi.DecodeJSON(w, r, &st); err != nil {
		return 0, nil, err
	}
	c, err := cp.cells.SetStatus(r.Context(), r.PathValue("name"), st)
	return http.StatusOK, c, cellError(err)
}

package orchestrator

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/httpapi"
	"github.com/cloudskin/cloudskin/orchestrator/sites"
)

// routes mounts the sites API:
//
//	GET    /api/v1/sites                  list sites with status
//	GET    /api/v1/sites/{name}           one site
//	PUT    /api/v1/sites/{name}           register or update (agents)
//	POST   /api/v1/sites/{name}/heartbeat heartbeat (agents)
//	DELETE /api/v1/sites/{name}           forget a site
func (cp *ControlPlane) routes(h *component.Host) {
	h.Server.HandleFunc("GET /api/v1/sites", cp.handle(cp.listSites))
	h.Server.HandleFunc("GET /api/v1/sites/{name}", cp.handle(cp.getSite))
	h.Server.HandleFunc("PUT /api/v1/sites/{name}", cp.handle(cp.putSite))
	h.Server.HandleFunc("POST /api/v1/sites/{name}/heartbeat", cp.handle(cp.heartbeat))
	h.Server.HandleFunc("DELETE /api/v1/sites/{name}", cp.handle(cp.deleteSite))
	h.Server.HandleFunc("POST /api/v1/sites/{name}/drain", cp.handle(cp.drainSite))
	h.Server.HandleFunc("POST /api/v1/defragment", cp.handle(cp.defragmentSites))
}

// handle adapts a handler that returns (status, body, error) to http.
func (cp *ControlPlane) handle(fn httpapi.HandlerFunc) http.HandlerFunc {
	return httpapi.Handle(cp.log, apiError, fn)
}

// apiError maps domain errors to HTTP ones.
func apiError(err error) error {
	var done *httpapi.Error
	if errors.As(err, &done) {
		return err // the handler chose the code already
	}
	if errors.Is(err, sites.ErrNotFound) {
		return httpapi.NotFound(err)
	}
	return err
}

func (cp *ControlPlane) listSites(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	list, err := cp.sites.List(r.Context())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v1alpha1.SiteList{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: "SiteList"},
		Items:    list,
	}, nil
}

func (cp *ControlPlane) getSite(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	s, err := cp.sites.Get(r.Context(), r.PathValue("name"))
	return http.StatusOK, s, err
}

func (cp *ControlPlane) putSite(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var site v1alpha1.Site
	if err := httpapi.DecodeJSON(w, r, &site); err != nil {
		return 0, nil, err
	}
	if name := r.PathValue("name"); site.Metadata.Name != name {
		return 0, nil, httpapi.BadRequest(fmt.Errorf("metadata.name %q does not match the URL's %q", site.Metadata.Name, name))
	}
	if err := site.Validate(); err != nil {
		return 0, nil, httpapi.BadRequest(err)
	}
	saved, created, err := cp.sites.Register(r.Context(), site)
	if err != nil {
		return 0, nil, err
	}
	if created {
		cp.log.Info("site registered", "site", site.Metadata.Name, "type", string(site.Spec.Type))
		return http.StatusCreated, saved, nil
	}
	return http.StatusOK, saved, nil
}

func (cp *ControlPlane) heartbeat(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var hb v1alpha1.Heartbeat
	if err := httpapi.DecodeJSON(w, r, &hb); err != nil {
		return 0, nil, err
	}
	s, err := cp.sites.Heartbeat(r.Context(), r.PathValue("name"), hb)
	return http.StatusOK, s, err
}

func (cp *ControlPlane) deleteSite(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	if err := cp.sites.Delete(r.Context(), r.PathValue("name")); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

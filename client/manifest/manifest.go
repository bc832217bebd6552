// Package manifest reads Kubernetes-style YAML manifests (Sites, Blocks,
// Applications; several per file, every YAML file of a directory) and
// applies them through the northbound API, the way `kubectl apply -f`
// does: `cloudskin apply` is this package plus flags.
//
// A cell block's spec.cell.module may name a file instead of a digest:
// a .wasm module, or C/C++ sources that the caller's ModuleLoader
// compiles. The module is uploaded and its digest put in its place, so a
// manifest directory is all a user needs to deploy (the idea of ko,
// which builds Go images while applying).
package manifest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/client"
	"github.com/cloudskin/cloudskin/config"
)

// Resource is one decoded manifest document.
type Resource struct {
	// Source is "file:line", for messages.
	Source string
	// Dir is the directory of the file, against which module paths resolve.
	Dir         string
	Site        *v1alpha1.Site
	Block       *v1alpha1.Block
	Application *v1alpha1.Application
	Agent       *v1alpha1.Agent
}

// Kind returns the resource's kind.
func (r Resource) Kind() string {
	switch {
	case r.Site != nil:
		return v1alpha1.KindSite
	case r.Block != nil:
		return v1alpha1.KindBlock
	case r.Agent != nil:
		return v1alpha1.KindAgent
	default:
		return v1alpha1.KindApplication
	}
}

// Name returns "kind/name" (blocks as kind/name@version), kubectl's way.
func (r Resource) Name() string {
	switch {
	case r.Site != nil:
		return "site/" + r.Site.Metadata.Name
	case r.Block != nil:
		return "block/" + r.Block.Ref()
	case r.Agent != nil:
		return "agent/" + r.Agent.Metadata.Name
	default:
		return "application/" + r.Application.Metadata.Name
	}
}

// order applies sites, then blocks, then applications, then agents, so
// that an application finds its blocks, and an agent the application it
// scales, whatever order the files are in.
func (r Resource) order() int {
	return map[string]int{v1alpha1.KindSite: 0, v1alpha1.KindBlock: 1, v1alpha1.KindApplication: 2, v1alpha1.KindAgent: 3}[r.Kind()]
}

// Load reads every path: a file, or a directory whose *.yaml and *.yml
// files are read in name order (not its subdirectories). Documents are
// decoded strictly; the first error names file, line and field.
func Load(paths []string) ([]Resource, error) {
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		n := len(files)
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
		if len(files) == n {
			return nil, fmt.Errorf("%s: no .yaml or .yml files", p)
		}
	}
	var out []Resource
	for _, f := range files {
		rs, err := loadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	slices.SortStableFunc(out, func(a, b Resource) int { return a.order() - b.order() })
	return out, nil
}

func loadFile(file string) ([]Resource, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	docs, err := config.Documents(file, data)
	if err != nil {
		return nil, err
	}
	var out []Resource
	for _, d := range docs {
		r := Resource{Source: fmt.Sprintf("%s:%d", file, d.Line), Dir: filepath.Dir(file)}
		switch d.Kind {
		case v1alpha1.KindSite:
			r.Site = &v1alpha1.Site{}
			err = config.Decode(file, d.Data, d.Kind, r.Site)
		case v1alpha1.KindBlock:
			r.Block = &v1alpha1.Block{}
			err = config.Decode(file, d.Data, d.Kind, r.Block)
		case v1alpha1.KindApplication:
			r.Application = &v1alpha1.Application{}
			if err = config.Decode(file, d.Data, d.Kind, r.Application); err == nil {
				err = r.Application.Validate()
			}
		case v1alpha1.KindAgent:
			r.Agent = &v1alpha1.Agent{}
			if err = config.Decode(file, d.Data, d.Kind, r.Agent); err == nil {
				err = r.Agent.Validate()
			}
		default:
			return nil, fmt.Errorf("%s: kind %q: want Site, Block, Application or Agent", r.Source, d.Kind)
		}
		if err != nil {
			return nil, prefix(r.Source, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// prefix makes a validation error name its document; decoding errors
// name file and line already.
func prefix(source string, err error) error {
	var cfg *config.Error
	var list config.ErrorList
	if errors.As(err, &cfg) || errors.As(err, &list) {
		return err
	}
	return fmt.Errorf("%s: %w", source, err)
}

// ModuleLoader turns a module file (a .wasm, or sources to compile) into
// the module's bytes.
type ModuleLoader func(ctx context.Context, path string) ([]byte, error)

// Result is what applying one resource did.
type Result struct {
	Resource Resource
	// Action is "created", "configured" or "unchanged".
	Action string
}

// Apply sends each resource in order, uploading module files of cell
// blocks first. It stops at the first error, which names the resource.
func Apply(ctx context.Context, c *client.Client, rs []Resource, load ModuleLoader) ([]Result, error) {
	var out []Result
	for _, r := range rs {
		action, err := applyOne(ctx, c, r, load)
		if err != nil {
			return out, fmt.Errorf("%s (%s): %w", r.Name(), r.Source, err)
		}
		out = append(out, Result{Resource: r, Action: action})
	}
	return out, nil
}

func applyOne(ctx context.Context, c *client.Client, r Resource, load ModuleLoader) (string, error) {
	switch {
	case r.Site != nil:
		_, err := c.GetSite(ctx, r.Site.Metadata.Name)
		action := "configured"
		if client.IsNotFound(err) {
			action = "created"
		}
		_, err = c.RegisterSite(ctx, *r.Site)
		return action, err
	case r.Block != nil:
		b := *r.Block
		if b.Spec.Cell != nil && v1alpha1.ValidateDigest(b.Spec.Cell.Module) != nil {
			cellTemplate := *b.Spec.Cell
			digest, err := uploadModule(ctx, c, r.Dir, cellTemplate.Module, load)
			if err != nil {
				return "", err
			}
			cellTemplate.Module = digest
			b.Spec.Cell = &cellTemplate
		}
		_, created, err := c.PublishBlock(ctx, b)
		if created {
			return "created", err
		}
		return "unchanged", err
	case r.Agent != nil:
		_, action, err := c.ApplyAgent(ctx, *r.Agent)
		return action, err
	default:
		_, action, err := c.ApplyApplication(ctx, *r.Application)
		return action, err
	}
}

// uploadModule loads the module a block names by path (relative to the
// manifest's directory; sources separated by spaces) and uploads it.
func uploadModule(ctx context.Context, c *client.Client, dir, module string, load ModuleLoader) (string, error) {
	if load == nil {
		return "", fmt.Errorf("spec.cell.module %q is neither a digest nor loadable here", module)
	}
	var paths []string
	for _, p := range strings.Fields(module) {
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		paths = append(paths, p)
	}
	wasm, err := load(ctx, strings.Join(paths, " "))
	if err != nil {
		return "", fmt.Errorf("spec.cell.module %q: %w", module, err)
	}
	return c.PutModule(ctx, wasm)
}

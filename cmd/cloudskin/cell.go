package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/cell"
	"github.com/cloudskin/cloudskin/cell/snapshot"
	"github.com/cloudskin/cloudskin/cell/toolchain"
	"github.com/cloudskin/cloudskin/cell/wasi"
	"github.com/cloudskin/cloudskin/client"
	"github.com/cloudskin/cloudskin/granny"
)

// cellExit turns how a cell ended into the command's result: its error, or
// its own exit status.
func cellExit(res cell.Result, err error) error {
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return &exitCodeError{res.ExitCode}
	}
	return nil
}

// exitCodeError makes the process exit with a program's own status.
type exitCodeError struct{ code int }

func (e *exitCodeError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newCellCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cell",
		Short: "Build and run C-Cells: C/C++ and MPI programs as WebAssembly sandboxes",
	}
	cmd.AddCommand(newCellRunCommand(g), newCellResumeCommand(), newCellMigrateCommand(g), newCellMPIRunCommand(g), newCellCCCommand())
	return cmd
}

// cellFlags are the flags run and mpirun share.
type cellFlags struct {
	engine, memory, cacheDir string
	timeout                  time.Duration
	dirs, env                []string
	verbose, elastic         bool
}

func (f *cellFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.SetInterspersed(false) // flags after the module belong to the program
	fl.StringVar(&f.engine, "engine", "auto", "wasmtime (near-native code, needs cgo), wazero (pure Go, fastest start) or auto")
	fl.StringVar(&f.memory, "memory", "4Gi", "memory limit of each cell (Kubernetes quantity)")
	fl.DurationVar(&f.timeout, "timeout", 0, "stop the cell after this long (0: no limit)")
	fl.StringArrayVar(&f.dirs, "dir", nil, "grant a host directory: HOST[:GUEST][:ro] (repeatable)")
	fl.StringArrayVar(&f.env, "env", nil, "set an environment variable KEY=VALUE (repeatable)")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "compiled-code cache (default "+cell.DefaultCacheDir()+")")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "say which engine runs the cell and why, and how long it took")
	fl.BoolVar(&f.elastic, "elastic", false, "let the cell use idle cores in its parallel phases (cloudskin_parallelism): this machine's cores its ranks leave idle, or with --site the site's")
}

// parallelism is the local answer to cloudskin_parallelism for a world of
// ranks with --elastic: Granny's elastic rule on this machine's cores.
func (f *cellFlags) parallelism(ranks int) func() int {
	if !f.elastic {
		return nil
	}
	cores := runtime.NumCPU()
	return func() int { return granny.Elastic{}.Grant(cores, ranks, ranks, 0) }
}

// spec builds the cell description shared by every rank.
func (f *cellFlags) spec(module string, args []string) (cell.Spec, error) {
	mem, err := v1alpha1.ParseQuantity(f.memory)
	if err != nil {
		return cell.Spec{}, fmt.Errorf("--memory: %w", err)
	}
	var dirs []wasi.Preopen
	for _, d := range f.dirs {
		p, err := cell.ParseDir(d)
		if err != nil {
			return cell.Spec{}, err
		}
		dirs = append(dirs, p)
	}
	for _, e := range f.env {
		if !strings.Contains(e, "=") {
			return cell.Spec{}, fmt.Errorf("--env %q: want KEY=VALUE", e)
		}
	}
	return cell.Spec{
		Name: filepath.Base(module), Args: args, Env: f.env,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Dirs: dirs, MemoryLimit: mem.Value(), Timeout: f.timeout,
		// Without a time limit nothing needs to stop guest code from
		// outside: Ctrl-C ends the process (exitWhenInterrupted).
		Uninterruptible: f.timeout == 0,
		Parallelism:     f.parallelism(1),
	}, nil
}

// load reads and compiles the module.
func (f *cellFlags) load(cmd *cobra.Command, module string) (*cell.Runtime, *cell.Program, error) {
	choice, err := cell.ParseEngine(f.engine)
	if err != nil {
		return nil, nil, err
	}
	wasm, err := os.ReadFile(module)
	if err != nil {
		return nil, nil, err
	}
	exitWhenInterrupted(cmd)
	rt := cell.NewRuntime(cell.Options{CacheDir: f.cacheDir})
	prog, err := rt.Load(cmd.Context(), wasm, choice)
	if err != nil {
		rt.Close(cmd.Context())
		return nil, nil, fmt.Errorf("%s: %w", module, err)
	}
	if f.verbose {
		fmt.Fprintf(cmd.ErrOrStderr(), "cell: %s on %s (%s)\n", module, prog.Engine, prog.Reason)
	}
	return rt, prog, nil
}

func newCellRunCommand(g *globals) *cobra.Command {
	f := &cellFlags{}
	var snapshotAt uint64
	var snapshotOut string
	var at siteRun
	cmd := &cobra.Command{
		Use:   "run [flags] MODULE.wasm [ARGS...]",
		Short: "Run a WASI module as a cell; the exit status is the program's",
		Example: `  cloudskin cell run hello.wasm world
  cloudskin cell run --dir ./data:/data:ro --dir ./out:/out --memory 512Mi --timeout 1m ndvi.wasm /data /out
  cloudskin cell run --snapshot-at 100 --snapshot-out cell.snap prog.wasm   # then: cloudskin cell resume cell.snap`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := f.spec(args[0], args[1:])
			if err != nil {
				return err
			}
			if (snapshotAt == 0) != (snapshotOut == "") {
				return errors.New("--snapshot-at and --snapshot-out go together")
			}
			if at.place && at.site != "" {
				return errors.New("--site and --place: give one")
			}
			if at.remote() {
				return runAtSite(cmd, g, f, at, args[0], args[1:])
			}
			rt, prog, err := f.load(cmd, args[0])
			if err != nil {
				return err
			}
			defer rt.Close(cmd.Context())
			defer prog.Close(cmd.Context())
			if snapshotAt > 0 {
				return runUntilSnapshot(cmd, rt, prog, spec, args[0], snapshotAt, snapshotOut)
			}
			if prog.Migratable && !prog.UsesMPI {
				return runForking(cmd, f.verbose, prog, spec)
			}
			res, err := prog.Run(cmd.Context(), spec)
			if f.verbose {
				fmt.Fprintf(cmd.ErrOrStderr(), "cell: exit %d after %s\n", res.ExitCode, res.Elapsed)
			}
			return cellExit(res, err)
		},
	}
	f.register(cmd)
	cmd.Flags().Uint64Var(&snapshotAt, "snapshot-at", 0, "stop at this call into the host (counting from 1) and write a snapshot; needs a module built with cell cc --migratable")
	cmd.Flags().StringVar(&snapshotOut, "snapshot-out", "", "file the snapshot is written to")
	at.register(cmd, "cell")
	return cmd
}

// runForking runs a migratable cell, which may call cloudskin_fork: its
// children share its stdio; the exit status is the parent's, once every
// child has ended.
func runForking(cmd *cobra.Command, verbose bool, prog *cell.Program, spec cell.Spec) error {
	res, forks, err := prog.RunForking(cmd.Context(), spec, func(int) cell.Spec { return spec })
	if verbose {
		for _, c := range forks {
			fmt.Fprintf(cmd.ErrOrStderr(), "cell: child %d exit %d after %s (err %v)\n", c.Child, c.Result.ExitCode, c.Result.Elapsed, c.Err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "cell: exit %d after %s\n", res.ExitCode, res.Elapsed)
	}
	return cellExit(res, err)
}

// runAtSite uploads the module to the control plane, asks for a cell run at
// site, waits for the site's agent to finish it, prints its output and
// exits with its status.
// siteRun is how to run at a site: where, as how many ranks, how often
// to checkpoint.
type siteRun struct {
	site            string
	ranks           int
	checkpointEvery time.Duration
	rankSites       []v1alpha1.CellRankSite
	place           bool
}

// spread places a world of ranks over sites in blocks: the first block at
// the first site (the world's home, spec.site), the others' ranks in
// spec.rankSites.
func (s *siteRun) spread(sites []string, ranks int) error {
	if len(sites) > ranks {
		return fmt.Errorf("--sites: %d sites for %d ranks: give each site a rank at least", len(sites), ranks)
	}
	for i, site := range sites {
		if site == "" || slices.Contains(sites[:i], site) {
			return fmt.Errorf("--sites %q: want distinct site names", strings.Join(sites, ","))
		}
	}
	s.site, s.rankSites = sites[0], nil
	for r := range ranks {
		if at := sites[r*len(sites)/ranks]; at != sites[0] {
			s.rankSites = append(s.rankSites, v1alpha1.CellRankSite{Rank: r, Site: at})
		}
	}
	return nil
}

// register adds --site and --checkpoint-every to cmd.
func (s *siteRun) register(cmd *cobra.Command, what string) {
	cmd.Flags().StringVar(&s.site, "site", "", "run the "+what+" at this site of the control plane (--server), not here")
	cmd.Flags().DurationVar(&s.checkpointEvery, "checkpoint-every", 0, "with --site: checkpoint a migratable "+what+" this often, so that it resumes at another site if its site is lost")
	cmd.Flags().BoolVar(&s.place, "place", false, "run the "+what+" at sites of the control plane the Granny planner chooses: the fewest Ready sites with a free core for every rank")
}

// placement describes ranks away from a run's site, for the verbose log.
func placement(away []v1alpha1.CellRankSite) string {
	if len(away) == 0 {
		return ""
	}
	var parts []string
	for _, r := range away {
		parts = append(parts, fmt.Sprintf("rank %d at %s", r.Rank, r.Site))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// remote reports whether the run goes to the control plane.
func (s *siteRun) remote() bool { return s.site != "" || s.place }

// Directories given with --dir are the agent host's: relative ones are
// made absolute here, which is right when the agent runs on this host.
func runAtSite(cmd *cobra.Command, g *globals, f *cellFlags, at siteRun, module string, args []string) error {
	site := at.site
	dirs, err := absDirs(f.dirs)
	if err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	wasm, err := os.ReadFile(module)
	if err != nil {
		return err
	}
	mem, err := v1alpha1.ParseQuantity(f.memory)
	if err != nil {
		return fmt.Errorf("--memory: %w", err)
	}
	ctx := cmd.Context()
	digest, err := c.PutModule(ctx, wasm)
	if err != nil {
		return err
	}
	run, err := c.CreateCellRun(ctx, v1alpha1.CellRun{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindCellRun},
		Spec: v1alpha1.CellRunSpec{
			Site: site, Module: digest, Args: args, Env: f.env, Engine: f.engine,
			Memory: mem, Timeout: v1alpha1.Duration{Duration: f.timeout},
			Ranks: at.ranks, Dirs: dirs, Elastic: f.elastic, RankSites: at.rankSites, Place: at.place,
			CheckpointInterval: v1alpha1.Duration{Duration: at.checkpointEvery},
		},
	})
	if err != nil {
		return err
	}
	site = run.Spec.Site
	if f.verbose {
		fmt.Fprintf(cmd.ErrOrStderr(), "cell: %s asked to run %s at site %s%s\n", run.Metadata.Name, module, site, placement(run.Spec.RankSites))
	}
	for !run.Status.Phase.Done() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("cell run %s left running at site %s: %w", run.Metadata.Name, site, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if run, err = c.GetCellRun(ctx, run.Metadata.Name); err != nil {
			return err
		}
	}
	fmt.Fprint(cmd.OutOrStdout(), run.Status.Output)
	if f.verbose {
		fmt.Fprintf(cmd.ErrOrStderr(), "cell: %s %s on %s at site %s, exit %d\n", run.Metadata.Name, run.Status.Phase, run.Status.Engine, site, run.Status.ExitCode)
	}
	switch {
	case run.Status.ExitCode > 0:
		return &exitCodeError{run.Status.ExitCode}
	case run.Status.Phase == v1alpha1.CellFailed:
		return fmt.Errorf("cell run %s at site %s: %s", run.Metadata.Name, site, run.Status.Message)
	}
	return nil
}

// runUntilSnapshot runs the cell to its n-th host call and writes the
// snapshot; a cell that ends before it exits with its own status.
func runUntilSnapshot(cmd *cobra.Command, rt *cell.Runtime, prog *cell.Program, spec cell.Spec, module string, n uint64, out string) error {
	wasm, err := os.ReadFile(module)
	if err != nil {
		return err
	}
	if err := rt.Keep(wasm); err != nil { // so that `cell resume` finds the module by hash
		return err
	}
	snap, res, err := prog.RunUntil(cmd.Context(), spec, n)
	if err != nil {
		return err
	}
	if snap == nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "cell: ended before host call %d\n", n)
		if res.ExitCode != 0 {
			return &exitCodeError{res.ExitCode}
		}
		return nil
	}
	if err := snapshot.WriteFile(out, snap); err != nil {
		return err
	}
	info, _ := os.Stat(out)
	fmt.Fprintf(cmd.ErrOrStderr(), "cell: stopped at host call %d after %s; snapshot %s (%d of %d pages travel, %d bytes)\n",
		n, res.Elapsed.Round(time.Microsecond), out, len(snap.Pages), snap.MemoryPages, info.Size())
	return nil
}

func newCellResumeCommand() *cobra.Command {
	f := &cellFlags{}
	var module string
	cmd := &cobra.Command{
		Use:   "resume [flags] SNAPSHOT",
		Short: "Continue a cell or an MPI world from a snapshot written by cell run|mpirun --snapshot-at",
		Long: `Continue a cell, or every rank of an MPI world, from a snapshot. Its module is found by hash in the module
store (cell run --snapshot-at keeps it there), or given with --module. Args,
env and granted directories come from the snapshot; the exit status is the
program's. It may run on either engine, whichever took the snapshot.`,
		Example: `  cloudskin cell resume cell.snap
  cloudskin cell resume --engine wasmtime --module prog.wasm cell.snap`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := f.spec(args[0], nil)
			if err != nil {
				return err
			}
			snaps, err := snapshot.ReadWorldFile(args[0], nil)
			if err != nil {
				return err
			}
			snap := snaps[0]
			exitWhenInterrupted(cmd)
			choice, err := cell.ParseEngine(f.engine)
			if err != nil {
				return err
			}
			rt := cell.NewRuntime(cell.Options{CacheDir: f.cacheDir})
			defer rt.Close(cmd.Context())
			var wasm []byte
			if module != "" {
				wasm, err = os.ReadFile(module)
			} else {
				wasm, err = rt.Kept(snap.ModuleHash)
			}
			if err != nil {
				return err
			}
			prog, err := rt.Load(cmd.Context(), wasm, choice)
			if err != nil {
				return err
			}
			defer prog.Close(cmd.Context())
			if f.verbose {
				fmt.Fprintf(cmd.ErrOrStderr(), "cell: resuming %s (%d cells, taken on %s) on %s (%s)\n", args[0], len(snaps), snap.Engine, prog.Engine, prog.Reason)
			}
			if len(snaps) > 1 || snap.MPI != nil {
				_, results, err := prog.RunMPIStoppable(cmd.Context(), 0, func(int) cell.Spec { return spec }, snaps, cell.WorldStop{})
				return worldExit(cmd, f.verbose, results, err)
			}
			return cellExit(prog.Resume(cmd.Context(), spec, snap))
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&module, "module", "", "the module the snapshot was taken from (default: from the module store, by hash)")
	return cmd
}

// absDirs makes the host side of HOST[:GUEST][:ro] directories absolute,
// keeping the guest path the program sees (which defaults to HOST).
func absDirs(dirs []string) ([]string, error) {
	out := make([]string, 0, len(dirs))
	for _, d := range dirs {
		p, err := cell.ParseDir(d)
		if err != nil {
			return nil, err
		}
		abs, err := filepath.Abs(p.HostDir)
		if err != nil {
			return nil, fmt.Errorf("--dir %q: %w", d, err)
		}
		mode := "rw"
		if p.ReadOnly {
			mode = "ro"
		}
		out = append(out, abs+":"+p.GuestPath+":"+mode)
	}
	return out, nil
}

func newCellMPIRunCommand(g *globals) *cobra.Command {
	f := &cellFlags{}
	var (
		ranks       int
		snapshotAt  uint64
		snapshotOut string
		at          siteRun
		sites       []string
	)
	cmd := &cobra.Command{
		Use:   "mpirun -n N [flags] MODULE.wasm [ARGS...]",
		Short: "Run an MPI program as a world of N cells in this process",
		Long: `Run an MPI program as a world of N cells in this process.

With --snapshot-at K the world stops on entering its K-th collective on
MPI_COMM_WORLD (MPI_Finalize counts as one), all ranks at once, and writes
one snapshot per rank to --snapshot-out; cloudskin cell resume continues
it. This needs a module built with cloudskin cell cc --migratable.

With --sites the world runs at sites of the control plane, its ranks in
blocks over the sites in order: the first site's agent runs the world and
its MPI state (it is the world's home), the other sites' agents fetch their
ranks from it over TCP, and those ranks' MPI calls and output go to it.`,
		Example: `  cloudskin cell mpirun -n 4 ring.wasm
  cloudskin cell mpirun -n 2 --dir ./data:/data:ro ndvi.wasm /data/red.csr /data/nir.csr /data/out.csr
  cloudskin cell mpirun -n 4 --snapshot-at 3 --snapshot-out world.snap prog.wasm   # then: cloudskin cell resume world.snap
  cloudskin cell mpirun -n 2 --site edge --dir ./data:/data ndvi.wasm /data/red.csr /data/nir.csr /data/out.csr
  cloudskin cell mpirun -n 4 --sites edge,cloud ring.wasm   # ranks 0-1 at edge, 2-3 at cloud`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (snapshotAt == 0) != (snapshotOut == "") {
				return errors.New("--snapshot-at and --snapshot-out go together")
			}
			spec, err := f.spec(args[0], args[1:])
			if err != nil {
				return err
			}
			if (at.site != "") && len(sites) > 0 || at.place && (at.site != "" || len(sites) > 0) {
				return errors.New("--site, --sites and --place: give one")
			}
			if len(sites) > 0 {
				if err := at.spread(sites, ranks); err != nil {
					return err
				}
			}
			if at.remote() {
				at.ranks = ranks
				return runAtSite(cmd, g, f, at, args[0], args[1:])
			}
			rt, prog, err := f.load(cmd, args[0])
			if err != nil {
				return err
			}
			defer rt.Close(cmd.Context())
			defer prog.Close(cmd.Context())
			spec.Parallelism = f.parallelism(ranks)
			specs := func(int) cell.Spec { return spec }
			if snapshotAt != 0 {
				return runWorldUntilSnapshot(cmd, rt, prog, ranks, specs, args[0], snapshotAt, snapshotOut)
			}
			results, err := prog.RunMPI(cmd.Context(), ranks, specs)
			return worldExit(cmd, f.verbose, results, err)
		},
	}
	f.register(cmd)
	cmd.Flags().IntVarP(&ranks, "np", "n", 1, "number of ranks")
	cmd.Flags().Uint64Var(&snapshotAt, "snapshot-at", 0, "stop the world on entering this collective on MPI_COMM_WORLD (counting from 1) and write its snapshot; needs a module built with cell cc --migratable")
	cmd.Flags().StringVar(&snapshotOut, "snapshot-out", "", "file the world's snapshot is written to")
	at.register(cmd, "world (all ranks at the site)")
	cmd.Flags().StringSliceVar(&sites, "sites", nil, "run the world across these sites of the control plane, its ranks in blocks (the first site is the world's home)")
	return cmd
}

// worldExit reports how a world ended: its error, or the first rank's
// non-zero exit status.
func worldExit(cmd *cobra.Command, verbose bool, results []cell.Result, err error) error {
	if verbose {
		for i, r := range results {
			fmt.Fprintf(cmd.ErrOrStderr(), "cell: rank %d exit %d after %s\n", i, r.ExitCode, r.Elapsed)
		}
	}
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.ExitCode != 0 {
			return &exitCodeError{r.ExitCode}
		}
	}
	return nil
}

// runWorldUntilSnapshot runs an MPI world to its n-th world collective and
// writes the snapshot of every rank; a world that ends first exits with
// its own status.
func runWorldUntilSnapshot(cmd *cobra.Command, rt *cell.Runtime, prog *cell.Program, ranks int, specs func(int) cell.Spec, module string, n uint64, out string) error {
	wasm, err := os.ReadFile(module)
	if err != nil {
		return err
	}
	if err := rt.Keep(wasm); err != nil { // so that `cell resume` finds the module by hash
		return err
	}
	snaps, results, err := prog.RunMPIStoppable(cmd.Context(), ranks, specs, nil, cell.WorldStop{Collective: n})
	if err != nil || snaps == nil {
		if err == nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "cell: the world ended before collective %d\n", n)
		}
		return worldExit(cmd, false, results, err)
	}
	if err := snapshot.WriteWorldFile(out, snaps); err != nil {
		return err
	}
	info, _ := os.Stat(out)
	pages := 0
	for _, s := range snaps {
		pages += len(s.Pages)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "cell: world of %d ranks stopped at collective %d; snapshot %s (%d pages travel, %d bytes)\n",
		len(snaps), n, out, pages, info.Size())
	return nil
}

func newCellCCCommand() *cobra.Command {
	var (
		opts     toolchain.Options
		optLevel string
		verbose  bool
		noSIMD   bool
	)
	cmd := &cobra.Command{
		Use:   "cc [flags] SOURCE... -o MODULE.wasm",
		Short: "Compile C/C++ (and MPI) sources into a cell module with clang",
		Long: `Compile C/C++ sources into a wasm32-wasi cell module with Debian's clang, lld
and wasi-libc. CloudSkin's mpi.h is on the include path, so MPI programs build
unchanged. Defaults: -O2, SIMD on.`,
		Example: `  cloudskin cell cc hello.c -o hello.wasm
  cloudskin cell cc -O3 -v examples/ndvi/ndvi.c -o ndvi.wasm`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Output == "" {
				return errors.New("-o MODULE.wasm is required")
			}
			tc, err := toolchain.Find()
			if err != nil {
				return err
			}
			opts.Sources = args
			opts.OptLevel = "-O" + optLevel
			opts.SIMD = !noSIMD
			if verbose {
				opts.Verbose = cmd.ErrOrStderr()
			}
			return tc.Compile(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Output, "output", "o", "", "module to write")
	fl.StringVarP(&optLevel, "opt", "O", "2", "optimisation level: 0, 1, 2, 3, s or z")
	fl.BoolVar(&noSIMD, "no-simd", false, "do not use WebAssembly SIMD (-msimd128)")
	fl.StringArrayVarP(&opts.IncludeDirs, "include", "I", nil, "add an include directory")
	fl.StringArrayVarP(&opts.Defines, "define", "D", nil, "define a macro NAME[=VALUE]")
	fl.BoolVarP(&verbose, "verbose", "v", false, "print the clang command line")
	fl.BoolVar(&opts.Migratable, "migratable", false, "make every host call a migration point (Binaryen Asyncify), for snapshots and live migration")
	return cmd
}

// exitWhenInterrupted gives Ctrl-C and SIGTERM back their default action,
// ending the process at once, for local cell runs. A cell without a time
// limit runs uninterruptible code; on wazero that machine code cannot be
// preempted, so once the garbage collector asks every goroutine to stop,
// none runs again until the cell makes a host call: a goroutine waiting
// for the signal would never get to exit the process (seen as a cell that
// ignored Ctrl-C for minutes). The kernel needs no goroutine. The shell
// reports such an end as status 130.
func exitWhenInterrupted(*cobra.Command) {
	signal.Reset(os.Interrupt, syscall.SIGTERM)
}

func newCellMigrateCommand(g *globals) *cobra.Command {
	var to string
	rank := -1
	cmd := &cobra.Command{
		Use:   "migrate CELLRUN --to SITE [--rank N]",
		Short: "Move a running cell, or one rank of its MPI world, to another site while it runs",
		Long: `Move a running cell (started with cell run --site, from a module built with
cell cc --migratable) to another site: its agent stops it at its next call into
the host, hands its snapshot over, and the new site's agent continues it. Prints
the downtime and the bytes moved.

With --rank, only that rank of an MPI world (cell mpirun --site) moves: it
stops alone at its next host call, the new site's agent fetches it straight
from the world's agent over TCP, and the other ranks run on where they are. The
moved rank's MPI calls and output go to the world's agent, so the job's output
stays whole. A world with a moved rank no longer moves or checkpoints as a
whole.`,
		Example: `  cloudskin cell migrate cell-ab12cd34ef --to cloud
  cloudskin cell migrate cell-ab12cd34ef --rank 3 --to cloud`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return errors.New("--to SITE is required")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("rank") {
				return migrateRank(cmd, c, args[0], rank, to)
			}
			ctx := cmd.Context()
			run, err := c.MigrateCellRun(ctx, args[0], to)
			if err != nil {
				return err
			}
			from, moves := run.Status.Site, len(run.Status.Migrations)
			progress := cmd.ErrOrStderr()
			fmt.Fprintf(progress, "cell: moving %s from %s to %s\n", run.Metadata.Name, from, to)
			fmt.Fprintf(progress, "cell: %s: stopping at its next migration point (a host call; for an MPI world, its next collective)\n", from)
			phase := run.Status.Phase
			for len(run.Status.Migrations) == moves && !run.Status.Phase.Done() {
				if run, err = pollCellRun(ctx, c, run.Metadata.Name); err != nil {
					return err
				}
				if run.Status.Phase != phase && run.Status.Phase == v1alpha1.CellMigrating {
					fmt.Fprintf(progress, "cell: %s: stopped, snapshot handed over; waiting for %s to resume it\n", from, to)
				}
				phase = run.Status.Phase
			}
			if len(run.Status.Migrations) == moves {
				return fmt.Errorf("%s ended (%s) before it moved", run.Metadata.Name, run.Status.Phase)
			}
			m := run.Status.Migrations[len(run.Status.Migrations)-1]
			what := "host call " + strconv.FormatUint(m.HostCall, 10)
			if m.Ranks > 1 {
				what = fmt.Sprintf("a world collective (%d ranks)", m.Ranks)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "migrated %s from %s to %s at %s: downtime %s, %d bytes moved\n",
				run.Metadata.Name, m.From, m.To, what, m.Downtime.Round(time.Microsecond), m.Bytes)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "site to move the cell to")
	cmd.Flags().IntVar(&rank, "rank", -1, "move only this rank of the cell's MPI world; the others stay")
	return cmd
}

// pollCellRun waits a moment and reads the run again.
func pollCellRun(ctx context.Context, c *client.Client, name string) (v1alpha1.CellRun, error) {
	select {
	case <-ctx.Done():
		return v1alpha1.CellRun{}, ctx.Err()
	case <-time.After(50 * time.Millisecond):
	}
	return c.GetCellRun(ctx, name)
}

// migrateRank moves one rank of a run's MPI world, or brings it back to
// the run's site, and follows the move in status.ranks until it is done.
func migrateRank(cmd *cobra.Command, c *client.Client, name string, rank int, to string) error {
	ctx := cmd.Context()
	run, err := c.GetCellRun(ctx, name)
	if err != nil {
		return err
	}
	before := len(rankMigrations(run, rank))
	if run, err = c.MigrateCellRank(ctx, name, rank, to); err != nil {
		return err
	}
	progress := cmd.ErrOrStderr()
	home := run.Status.Site
	if to == home {
		st, _ := run.Status.RankStatus(rank)
		fmt.Fprintf(progress, "cell: bringing rank %d of %s back from %s to %s\n", rank, name, st.Site, home)
		fmt.Fprintf(progress, "cell: %s: stopping rank %d at its next host call\n", st.Site, rank)
	} else {
		fmt.Fprintf(progress, "cell: moving rank %d of %s from %s to %s; the other ranks run on\n", rank, name, home, to)
		fmt.Fprintf(progress, "cell: %s: stopping rank %d at its next host call\n", home, rank)
	}
	var phase v1alpha1.CellRankPhase
	for {
		if run, err = pollCellRun(ctx, c, name); err != nil {
			return err
		}
		st, _ := run.Status.RankStatus(rank)
		if st.Phase != phase && st.Phase == v1alpha1.RankOffered {
			fmt.Fprintf(progress, "cell: %s: rank %d stopped and offered at %s; waiting for %s to take it\n", home, rank, st.Home, to)
		}
		phase = st.Phase
		if moves := rankMigrations(run, rank); len(moves) > before {
			m := moves[len(moves)-1]
			if m.To == home {
				fmt.Fprintf(cmd.OutOrStdout(), "brought rank %d of %s back from %s to %s at host call %d: %d bytes moved\n",
					rank, name, m.From, m.To, m.HostCall, m.Bytes)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "migrated rank %d of %s from %s to %s at host call %d: downtime %s, %d bytes moved\n",
				rank, name, m.From, m.To, m.HostCall, m.Downtime.Round(time.Microsecond), m.Bytes)
			return nil
		}
		switch {
		case st.Phase == v1alpha1.RankStayed:
			return fmt.Errorf("rank %d of %s did not move and goes on at %s: %s", rank, name, home, st.Message)
		case run.Status.Phase.Done():
			return fmt.Errorf("%s ended (%s) before rank %d moved", name, run.Status.Phase, rank)
		}
	}
}

// rankMigrations are the moves of rank in run's status, oldest first.
func rankMigrations(run v1alpha1.CellRun, rank int) []v1alpha1.CellMigration {
	var out []v1alpha1.CellMigration
	for _, m := range run.Status.Migrations {
		if m.Rank != nil && *m.Rank == rank {
			out = append(out, m)
		}
	}
	return out
}

package wasi

import (
	"context"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// Shorthands for signatures.
const (
	i32 = engine.I32
	i64 = engine.I64
)

// errnoFunc is the shape of every preview1 function but proc_exit: it reads
// its parameters from p, works on mem and returns an errno.
type errnoFunc func(ctx context.Context, mem memory, p []uint64) errno

// Module returns the System as the wasi_snapshot_preview1 host module:
// all 46 preview1 functions (the original 45 and sock_accept) with the
// signatures wasi-libc imports.
func (s *System) Module() engine.HostModule {
	return engine.HostModule{
		Name: ModuleName,
		Funcs: []engine.HostFunc{
			fn("args_get", s.argsGet, i32, i32),
			fn("args_sizes_get", s.argsSizesGet, i32, i32),
			fn("environ_get", s.environGet, i32, i32),
			fn("environ_sizes_get", s.environSizesGet, i32, i32),
			fn("clock_res_get", s.clockResGet, i32, i32),
			fn("clock_time_get", s.clockTimeGet, i32, i64, i32),
			fn("fd_advise", s.fdAdvise, i32, i64, i64, i32),
			fn("fd_allocate", s.fdAllocate, i32, i64, i64),
			fn("fd_close", s.fdClose, i32),
			fn("fd_datasync", s.fdDatasync, i32),
			fn("fd_fdstat_get", s.fdFdstatGet, i32, i32),
			fn("fd_fdstat_set_flags", s.fdFdstatSetFlags, i32, i32),
			fn("fd_fdstat_set_rights", s.fdFdstatSetRights, i32, i64, i64),
			fn("fd_filestat_get", s.fdFilestatGet, i32, i32),
			fn("fd_filestat_set_size", s.fdFilestatSetSize, i32, i64),
			fn("fd_filestat_set_times", s.fdFilestatSetTimes, i32, i64, i64, i32),
			fn("fd_pread", s.fdPread, i32, i32, i32, i64, i32),
			fn("fd_prestat_get", s.fdPrestatGet, i32, i32),
			fn("fd_prestat_dir_name", s.fdPrestatDirName, i32, i32, i32),
			fn("fd_pwrite", s.fdPwrite, i32, i32, i32, i64, i32),
			fn("fd_read", s.fdRead, i32, i32, i32, i32),
			fn("fd_readdir", s.fdReaddir, i32, i32, i32, i64, i32),
			fn("fd_renumber", s.fdRenumber, i32, i32),
			fn("fd_seek", s.fdSeek, i32, i64, i32, i32),
			fn("fd_sync", s.fdSync, i32),
			fn("fd_tell", s.fdTell, i32, i32),
			fn("fd_write", s.fdWrite, i32, i32, i32, i32),
			fn("path_create_directory", s.pathCreateDirectory, i32, i32, i32),
			fn("path_filestat_get", s.pathFilestatGet, i32, i32, i32, i32, i32),
			fn("path_filestat_set_times", s.pathFilestatSetTimes, i32, i32, i32, i32, i64, i64, i32),
			fn("path_link", s.pathLink, i32, i32, i32, i32, i32, i32, i32),
			fn("path_open", s.pathOpen, i32, i32, i32, i32, i32, i64, i64, i32, i32),
			fn("path_readlink", s.pathReadlink, i32, i32, i32, i32, i32, i32),
			fn("path_remove_directory", s.pathRemoveDirectory, i32, i32, i32),
			fn("path_rename", s.pathRename, i32, i32, i32, i32, i32, i32),
			fn("path_symlink", s.pathSymlink, i32, i32, i32, i32, i32),
			fn("path_unlink_file", s.pathUnlinkFile, i32, i32, i32),
			fn("poll_oneoff", s.pollOneoff, i32, i32, i32, i32),
			{
				Name:   "proc_exit",
				Params: []engine.ValueType{i32},
				Call:   procExit,
			},
			fn("proc_raise", procRaise, i32),
			fn("random_get", s.randomGet, i32, i32),
			fn("sched_yield", schedYield),
			fn("sock_accept", sockUnsupported, i32, i32, i32),
			fn("sock_recv", sockUnsupported, i32, i32, i32, i32, i32, i32),
			fn("sock_send", sockUnsupported, i32, i32, i32, i32, i32),
			fn("sock_shutdown", sockUnsupported, i32, i32),
		},
	}
}

// fn adapts an errnoFunc to the engine's calling convention: the errno is
// the single i32 result.
func fn(name string, f errnoFunc, params ...engine.ValueType) engine.HostFunc {
	return engine.HostFunc{
		Name:    name,
		Params:  params,
		Results: []engine.ValueType{i32},
		Call: func(ctx context.Context, mem engine.Memory, stack []uint64) {
			var m memory
			if mem != nil {
				m = mem.Bytes()
			}
			stack[0] = uint64(f(ctx, m, stack))
		},
	}
}

// procExit ends the guest. The engine adapter turns the panic into the
// *engine.Exit that Instance.Call returns.
func procExit(_ context.Context, _ engine.Memory, stack []uint64) {
	panic(&engine.Exit{Code: uint32(stack[0])})
}

// procRaise: cells have no signals.
func procRaise(context.Context, memory, []uint64) errno { return errnoNosys }

// sockUnsupported stands for sock_accept, sock_recv, sock_send and
// sock_shutdown: cells have no sockets yet, so no fd can be one.
func sockUnsupported(context.Context, memory, []uint64) errno { return errnoNotsup }

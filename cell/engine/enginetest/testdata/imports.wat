;; imports needs functions that hosts typically do not have, plus a memory
;; import no host module can provide.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (import "mpi" "MPI_Type_vector" (func (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_accept" (func (param i32 i32 i32) (result i32)))
  (import "env" "table" (table 1 funcref))
  (func (export "_start"))
)

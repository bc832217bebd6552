;; start has a start section that calls the host while the module is being
;; instantiated, before any export is called.
(module
  (import "env" "next" (func $next (result i64)))
  (global $first (export "first") (mut i64) (i64.const 0))
  (func $init
    (global.set $first (call $next)))
  (start $init)
)

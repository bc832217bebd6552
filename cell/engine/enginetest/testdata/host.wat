;; host calls functions the host provides: with arguments and results,
;; reading and writing guest memory, holding per-instance state, and ending
;; the guest by exiting.
(module
  (import "env" "add" (func $add (param i32 i32) (result i32)))
  (import "env" "reverse" (func $reverse (param i32 i32) (result i32)))
  (import "env" "next" (func $next (result i64)))
  (import "env" "exit" (func $exit (param i32)))
  (import "env" "nop" (func $nop))
  (import "env" "mix" (func $mix (param i64 f32 f64) (result f64)))

  (memory (export "memory") 1)
  (data (i32.const 64) "hello, world")

  (func (export "call_add") (param i32 i32) (result i32)
    (call $add (local.get 0) (local.get 1)))

  ;; reverse_greeting asks the host to reverse "hello, world" in place and
  ;; returns what the host returned (the length).
  (func (export "reverse_greeting") (result i32)
    (call $reverse (i32.const 64) (i32.const 12)))

  (func (export "next") (result i64)
    (call $next))

  (func (export "mix") (param i64 f32 f64) (result f64)
    (call $mix (local.get 0) (local.get 1) (local.get 2)))

  ;; exit calls the host's exit and must never get past it.
  (func (export "exit") (param i32)
    (call $exit (local.get 0))
    unreachable)

  ;; host_loop calls the trivial host function n times.
  (func (export "host_loop") (param $n i32)
    (block $done
      (loop $again
        (br_if $done (i32.eqz (local.get $n)))
        (call $nop)
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $again))))
)

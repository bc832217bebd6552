;; arith exercises exported functions of every value type, multi-value
;; results, globals and an exported memory. It imports nothing.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "cloudskin")

  (global $counter (export "counter") (mut i32) (i32.const 7))
  (global $total (export "total") (mut i64) (i64.const -1))
  (global $answer (export "answer") i32 (i32.const 42))

  (func (export "empty"))

  (func (export "add_i32") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))

  (func (export "add_i64") (param i64 i64) (result i64)
    (i64.add (local.get 0) (local.get 1)))

  (func (export "mul_f32") (param f32 f32) (result f32)
    (f32.mul (local.get 0) (local.get 1)))

  (func (export "div_f64") (param f64 f64) (result f64)
    (f64.div (local.get 0) (local.get 1)))

  ;; divmod returns quotient and remainder: two results.
  (func (export "divmod") (param i32 i32) (result i32 i32)
    (i32.div_u (local.get 0) (local.get 1))
    (i32.rem_u (local.get 0) (local.get 1)))

  ;; bump adds to the mutable global and returns the new value.
  (func (export "bump") (param i32) (result i32)
    (global.set $counter (i32.add (global.get $counter) (local.get 0)))
    (global.get $counter))

  ;; fib computes the nth Fibonacci number iteratively, so that many
  ;; concurrent instances can each compute something different.
  (func (export "fib") (param $n i32) (result i64)
    (local $a i64) (local $b i64) (local $t i64)
    (local.set $b (i64.const 1))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $t (i64.add (local.get $a) (local.get $b)))
        (local.set $a (local.get $b))
        (local.set $b (local.get $t))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $a))
)

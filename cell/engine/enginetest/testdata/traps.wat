;; traps holds one function per kind of guest fault.
(module
  (memory (export "memory") 1)

  (func $do_unreachable (export "unreachable")
    unreachable)

  ;; oob loads from far past the single page of memory.
  (func $oob (export "oob") (result i32)
    (i32.load (i32.const 0x7fff0000)))

  (func $div (export "div") (param i32 i32) (result i32)
    (i32.div_s (local.get 0) (local.get 1)))

  ;; recurse never stops calling itself.
  (func $recurse (export "recurse") (param i32) (result i32)
    (i32.add (call $recurse (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))

  (func (export "ok") (result i32)
    (i32.const 1))
)

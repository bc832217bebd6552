;; memory starts with one page and no declared maximum, so only the
;; instance's memory limit bounds memory.grow.
(module
  (memory (export "memory") 1)

  ;; grow returns the old size in pages, or -1 when growing fails.
  (func (export "grow") (param i32) (result i32)
    (memory.grow (local.get 0)))

  (func (export "size") (result i32)
    memory.size)
)

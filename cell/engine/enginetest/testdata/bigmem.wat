;; bigmem needs 100 pages (6.25 MiB) before running anything.
(module
  (memory (export "memory") 100)
  (func (export "size") (result i32)
    memory.size)
)

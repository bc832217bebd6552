;; loop runs forever or for a long time without calling the host, so only
;; the engine can stop it.
(module
  (func (export "spin")
    (loop $forever
      (br $forever)))

  ;; count runs n iterations of a little arithmetic and returns a checksum;
  ;; it is the compute loop used to measure interruption overhead.
  (func (export "count") (param $n i64) (result i64)
    (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $acc
          (i64.add
            (i64.mul (local.get $acc) (i64.const 6364136223846793005))
            (local.get $n)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))
    (local.get $acc))
)

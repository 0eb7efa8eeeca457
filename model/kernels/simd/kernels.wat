;; WebAssembly SIMD kernels for gitvqa, run beside the Go runtime in the browser worker.
;;
;; The module imports the Go instance's memory, so it reads and writes Go slices in
;; place: every pointer below is a byte address in that memory (treated as unsigned),
;; every size counts elements. Go calls each function through one JavaScript function
;; (see static/worker.js and web/simd). model/kernel holds the plain-Go twins these
;; are tested against.
;;
;; Assembled by wat2wasm (Debian's wabt), after wat.go writes out each ";; exp2 $y" line
;; (2^y in place; see exp2Body there). kernels-relaxed.wasm is this file with each
;; multiply-add fused into f32x4.relaxed_madd (wat.go rewrites the lines marked "madd");
;; browsers without relaxed SIMD load this one.
(module
  (import "env" "mem" (memory 0))

  ;; ---- helpers --------------------------------------------------------------------------

  ;; hsum adds the four lanes of v.
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; put stores v at addr, or adds it to what is there when acc is set.
  (func $put (param $addr i32) (param $v f32) (param $acc i32)
    (if (local.get $acc)
      (then (local.set $v (f32.add (local.get $v) (f32.load (local.get $addr))))))
    (f32.store (local.get $addr) (local.get $v)))

  ;; ---- packed float32 GEMM ------------------------------------------------------------
  ;;
  ;; C = A·Bᵀ with both operands read along k (x·Wᵀ with PyTorch's (out, in) weights),
  ;; on packed copies so the inner loop needs two pointers and constant offsets:
  ;;   A packed by row pairs: for rows i, i+1 and each k-step of 4, the 4 values of row i
  ;;     then the 4 of row i+1 (8 floats); a pair takes 2·k4 floats;
  ;;   B packed by row quads: for rows j..j+3 and each k-step of 4, 4 values of each row
  ;;     (16 floats); a quad takes 4·k4 floats.
  ;; k4 is k rounded up to a multiple of 4; missing rows and columns are packed as zeros.

  ;; pack_a packs m rows of A (stride lda floats) into pairs, k4 columns (zero-padded).
  (func $pack_a (export "pack_a") (param $a i32) (param $lda i32) (param $m i32) (param $k i32) (param $out i32) (param $k4 i32)
    (local $i i32) (local $p i32) (local $r0 i32) (local $r1 i32) (local $o i32) (local $k4f i32) (local $two i32)
    (local.set $lda (i32.shl (local.get $lda) (i32.const 2)))
    (local.set $o (local.get $out))
    (local.set $k4f (i32.and (local.get $k) (i32.const -4)))
    (local.set $i (i32.const 0))
    (block $id (loop $il
      (br_if $id (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $r0 (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $lda))))
      (local.set $two (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $m)))
      (local.set $r1 (i32.add (local.get $r0) (local.get $lda)))
      (local.set $p (i32.const 0))
      (block $pd (loop $pl
        (br_if $pd (i32.ge_u (local.get $p) (local.get $k4f)))
        (v128.store (local.get $o) (v128.load (i32.add (local.get $r0) (i32.shl (local.get $p) (i32.const 2)))))
        (if (local.get $two)
          (then (v128.store offset=16 (local.get $o) (v128.load (i32.add (local.get $r1) (i32.shl (local.get $p) (i32.const 2))))))
          (else (v128.store offset=16 (local.get $o) (v128.const i64x2 0 0))))
        (local.set $o (i32.add (local.get $o) (i32.const 32)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $pl)))
      ;; the ragged end of k and the zero padding up to k4
      (block $td (loop $tl
        (br_if $td (i32.ge_u (local.get $p) (local.get $k4)))
        (v128.store (local.get $o) (v128.const i64x2 0 0))
        (v128.store offset=16 (local.get $o) (v128.const i64x2 0 0))
        (call $copy_tail (local.get $o) (i32.add (local.get $r0) (i32.shl (local.get $p) (i32.const 2))) (i32.sub (local.get $k) (local.get $p)))
        (if (local.get $two)
          (then (call $copy_tail (i32.add (local.get $o) (i32.const 16)) (i32.add (local.get $r1) (i32.shl (local.get $p) (i32.const 2))) (i32.sub (local.get $k) (local.get $p)))))
        (local.set $o (i32.add (local.get $o) (i32.const 32)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $tl)))
      (local.set $i (i32.add (local.get $i) (i32.const 2)))
      (br $il))))

  ;; copy_tail copies n floats (a ragged end of k: fewer than 4; none when n ≤ 0).
  (func $copy_tail (param $dst i32) (param $src i32) (param $n i32)
    (block $d (loop $l
      (br_if $d (i32.le_s (local.get $n) (i32.const 0)))
      (f32.store (local.get $dst) (f32.load (local.get $src)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
      (local.set $src (i32.add (local.get $src) (i32.const 4)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l))))

  ;; pack_b packs n rows of B (stride ldb floats) into quads, k4 columns (zero-padded).
  (func $pack_b (export "pack_b") (param $b i32) (param $ldb i32) (param $n i32) (param $k i32) (param $out i32) (param $k4 i32)
    (local $j i32) (local $q i32) (local $r i32) (local $p i32) (local $o i32) (local $k4f i32) (local $src i32)
    (local.set $ldb (i32.shl (local.get $ldb) (i32.const 2)))
    (local.set $k4f (i32.and (local.get $k) (i32.const -4)))
    ;; rows missing from the last quad are zeros
    (if (i32.and (local.get $n) (i32.const 3))
      (then (memory.fill
        (i32.add (local.get $out) (i32.shl (i32.mul (i32.shr_u (local.get $n) (i32.const 2)) (local.get $k4)) (i32.const 4)))
        (i32.const 0) (i32.shl (local.get $k4) (i32.const 4)))))
    (local.set $j (i32.const 0))
    (block $jd (loop $jl
      (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
      ;; row j goes to quad j/4, slot j%4
      (local.set $o (i32.add (local.get $out)
        (i32.add (i32.shl (i32.mul (i32.shr_u (local.get $j) (i32.const 2)) (local.get $k4)) (i32.const 4))
                 (i32.shl (i32.and (local.get $j) (i32.const 3)) (i32.const 4)))))
      (local.set $src (i32.add (local.get $b) (i32.mul (local.get $j) (local.get $ldb))))
      (local.set $p (i32.const 0))
      (block $pd (loop $pl
        (br_if $pd (i32.ge_u (local.get $p) (local.get $k4f)))
        (v128.store (local.get $o) (v128.load (i32.add (local.get $src) (i32.shl (local.get $p) (i32.const 2)))))
        (local.set $o (i32.add (local.get $o) (i32.const 64)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $pl)))
      (if (i32.lt_u (local.get $p) (local.get $k4))
        (then
          (v128.store (local.get $o) (v128.const i64x2 0 0))
          (call $copy_tail (local.get $o) (i32.add (local.get $src) (i32.shl (local.get $p) (i32.const 2))) (i32.sub (local.get $k) (local.get $p)))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $jl)))
    )

  ;; reduce4 turns four accumulators (lanes of partial sums for four outputs) into one
  ;; vector of the four sums.
  (func $reduce4 (param $a v128) (param $b v128) (param $c v128) (param $d v128) (result v128)
    (local $ab v128) (local $cd v128) (local $s v128)
    ;; sum4 f32x4 $s $a $b $c $d $ab $cd
    (local.get $s))

  ;; store_row writes the first min(n, 4) lanes of v at addr, added to what is there when
  ;; acc is set.
  (func $store_row (param $addr i32) (param $v v128) (param $n i32) (param $acc i32)
    (if (i32.ge_u (local.get $n) (i32.const 4))
      (then
        (if (local.get $acc) (then (local.set $v (f32x4.add (local.get $v) (v128.load (local.get $addr))))))
        (v128.store (local.get $addr) (local.get $v))
        (return)))
    (call $put (local.get $addr) (f32x4.extract_lane 0 (local.get $v)) (local.get $acc))
    (if (i32.ge_u (local.get $n) (i32.const 2))
      (then (call $put (i32.add (local.get $addr) (i32.const 4)) (f32x4.extract_lane 1 (local.get $v)) (local.get $acc))))
    (if (i32.ge_u (local.get $n) (i32.const 3))
      (then (call $put (i32.add (local.get $addr) (i32.const 8)) (f32x4.extract_lane 2 (local.get $v)) (local.get $acc)))))

  ;; gemm_packed computes C[i][j] (+)= Σ_p A[i][p]·B[j][p] for i < m, j < n over kc
  ;; packed columns (a multiple of 4): ap points at pair 0 (pairs sa floats apart), bp at
  ;; quad 0 (quads sb floats apart), both already offset to the first column. ldc counts
  ;; floats; acc ≠ 0 adds to C. Two rows × four columns a tile: eight accumulators, six
  ;; loads per eight multiply-adds, two pointers.
  (func $gemm_packed (export "gemm_packed")
    (param $m i32) (param $n i32) (param $kc i32)
    (param $ap i32) (param $sa i32) (param $bp i32) (param $sb i32)
    (param $c i32) (param $ldc i32) (param $acc i32)
    (local $i i32) (local $j i32) (local $pa i32) (local $pb i32) (local $end i32) (local $co i32)
    (local $x0 v128) (local $x1 v128) (local $y0 v128) (local $y1 v128) (local $y2 v128) (local $y3 v128)
    (local $c00 v128) (local $c01 v128) (local $c02 v128) (local $c03 v128)
    (local $c10 v128) (local $c11 v128) (local $c12 v128) (local $c13 v128)
    (local.set $sa (i32.shl (local.get $sa) (i32.const 2)))
    (local.set $sb (i32.shl (local.get $sb) (i32.const 2)))
    (local.set $ldc (i32.shl (local.get $ldc) (i32.const 2)))
    (local.set $i (i32.const 0))
    (block $id (loop $il
      (br_if $id (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $j (i32.const 0))
      (block $jd (loop $jl
        (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $pa (i32.add (local.get $ap) (i32.mul (i32.shr_u (local.get $i) (i32.const 1)) (local.get $sa))))
        (local.set $pb (i32.add (local.get $bp) (i32.mul (i32.shr_u (local.get $j) (i32.const 2)) (local.get $sb))))
        (local.set $end (i32.add (local.get $pa) (i32.shl (local.get $kc) (i32.const 3))))
        (local.set $c00 (v128.const i64x2 0 0)) (local.set $c01 (v128.const i64x2 0 0))
        (local.set $c02 (v128.const i64x2 0 0)) (local.set $c03 (v128.const i64x2 0 0))
        (local.set $c10 (v128.const i64x2 0 0)) (local.set $c11 (v128.const i64x2 0 0))
        (local.set $c12 (v128.const i64x2 0 0)) (local.set $c13 (v128.const i64x2 0 0))
        (block $kd (loop $kl
          (br_if $kd (i32.ge_u (local.get $pa) (local.get $end)))
          (local.set $x0 (v128.load (local.get $pa)))
          (local.set $x1 (v128.load offset=16 (local.get $pa)))
          (local.set $y0 (v128.load (local.get $pb)))
          (local.set $y1 (v128.load offset=16 (local.get $pb)))
          (local.set $y2 (v128.load offset=32 (local.get $pb)))
          (local.set $y3 (v128.load offset=48 (local.get $pb)))
          (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x0) (local.get $y0)))) ;; madd
          (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x0) (local.get $y1)))) ;; madd
          (local.set $c02 (f32x4.add (local.get $c02) (f32x4.mul (local.get $x0) (local.get $y2)))) ;; madd
          (local.set $c03 (f32x4.add (local.get $c03) (f32x4.mul (local.get $x0) (local.get $y3)))) ;; madd
          (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x1) (local.get $y0)))) ;; madd
          (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x1) (local.get $y1)))) ;; madd
          (local.set $c12 (f32x4.add (local.get $c12) (f32x4.mul (local.get $x1) (local.get $y2)))) ;; madd
          (local.set $c13 (f32x4.add (local.get $c13) (f32x4.mul (local.get $x1) (local.get $y3)))) ;; madd
          (local.set $pa (i32.add (local.get $pa) (i32.const 32)))
          (local.set $pb (i32.add (local.get $pb) (i32.const 64)))
          (br $kl)))
        (local.set $co (i32.add (local.get $c) (i32.add (i32.mul (local.get $i) (local.get $ldc)) (i32.shl (local.get $j) (i32.const 2)))))
        (if (i32.and (i32.ge_u (i32.sub (local.get $n) (local.get $j)) (i32.const 4)) (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $m)))
          (then
            ;; a whole tile, its sums written out (reduce4 as a call spills every v128
            ;; register around it)
            ;; sum4 f32x4 $y0 $c00 $c01 $c02 $c03 $x0 $x1
            ;; sum4 f32x4 $y1 $c10 $c11 $c12 $c13 $x0 $x1
            (if (local.get $acc)
              (then (local.set $y0 (f32x4.add (local.get $y0) (v128.load (local.get $co))))
                    (local.set $y1 (f32x4.add (local.get $y1) (v128.load (i32.add (local.get $co) (local.get $ldc)))))))
            (v128.store (local.get $co) (local.get $y0))
            (v128.store (i32.add (local.get $co) (local.get $ldc)) (local.get $y1)))
          (else
            (call $store_row (local.get $co) (call $reduce4 (local.get $c00) (local.get $c01) (local.get $c02) (local.get $c03))
              (i32.sub (local.get $n) (local.get $j)) (local.get $acc))
            (if (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $m))
              (then
                (call $store_row (i32.add (local.get $co) (local.get $ldc)) (call $reduce4 (local.get $c10) (local.get $c11) (local.get $c12) (local.get $c13))
                  (i32.sub (local.get $n) (local.get $j)) (local.get $acc))))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $jl)))
      (local.set $i (i32.add (local.get $i) (i32.const 2)))
      (br $il))))

  ;; ---- attention's products: broadcast GEMM over 8-column panels ------------------------
  ;;
  ;; C = A·B with A read in place, row-major (queries, or the softmax's rows), and B packed
  ;; into panels of 8 columns: panel jb holds, for each p < k4, B[p][8jb…8jb+8) (32 bytes),
  ;; 8·k4 floats a panel. Accumulating along C's columns needs no horizontal sums, which
  ;; cost the quad GEMM a third of its time at attention's k = 64.

  ;; pack_b8 packs B given as n rows of k values (stride ldb: B[p][j] = b[j·ldb + p], the
  ;; keys) into panels; rows past n and columns past k, up to k4, are zeros.
  (func $pack_b8 (export "pack_b8") (param $b i32) (param $ldb i32) (param $n i32) (param $k i32) (param $out i32) (param $k4 i32)
    (local $j i32) (local $row i32) (local $end i32) (local $o i32)
    (local.set $ldb (i32.shl (local.get $ldb) (i32.const 2)))
    (memory.fill (local.get $out) (i32.const 0)
      (i32.shl (i32.mul (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8)) (local.get $k4)) (i32.const 2)))
    (local.set $j (i32.const 0))
    (block $jd (loop $jl
      (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $row (i32.add (local.get $b) (i32.mul (local.get $j) (local.get $ldb))))
      (local.set $end (i32.add (local.get $row) (i32.shl (local.get $k) (i32.const 2))))
      (local.set $o (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (i32.shr_u (local.get $j) (i32.const 3)) (i32.shl (local.get $k4) (i32.const 3)))
                                                                (i32.and (local.get $j) (i32.const 7))) (i32.const 2))))
      (block $pd (loop $pl
        (br_if $pd (i32.ge_u (local.get $row) (local.get $end)))
        (f32.store (local.get $o) (f32.load (local.get $row)))
        (local.set $row (i32.add (local.get $row) (i32.const 4)))
        (local.set $o (i32.add (local.get $o) (i32.const 32)))
        (br $pl)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $jl))))

  ;; pack_bt8 packs B given as k rows of n values (stride lds: B[p][j] = src[p·lds + j], the
  ;; values) into panels; zeros as pack_b8. Eight columns of a row are one panel's 32
  ;; bytes: two vector copies (a float at a time, ≈3 ms of an encoder layer's ≈70 went
  ;; here; AMD EPYC Zen 4).
  (func $pack_bt8 (export "pack_bt8") (param $src i32) (param $lds i32) (param $k i32) (param $n i32) (param $out i32) (param $k4 i32)
    (local $p i32) (local $j i32) (local $row i32) (local $o i32) (local $n8 i32) (local $panel i32)
    (local.set $lds (i32.shl (local.get $lds) (i32.const 2)))
    (local.set $panel (i32.shl (local.get $k4) (i32.const 5))) ;; bytes a panel
    (local.set $n8 (i32.and (local.get $n) (i32.const -8)))
    (memory.fill (local.get $out) (i32.const 0)
      (i32.shl (i32.mul (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8)) (local.get $k4)) (i32.const 2)))
    (local.set $p (i32.const 0))
    (block $pd (loop $pl
      (br_if $pd (i32.ge_u (local.get $p) (local.get $k)))
      (local.set $row (i32.add (local.get $src) (i32.mul (local.get $p) (local.get $lds))))
      (local.set $o (i32.add (local.get $out) (i32.shl (local.get $p) (i32.const 5))))
      (local.set $j (i32.const 0))
      (block $vd (loop $vl
        (br_if $vd (i32.ge_u (local.get $j) (local.get $n8)))
        (v128.store (local.get $o) (v128.load (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2)))))
        (v128.store offset=16 (local.get $o) (v128.load offset=16 (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $o (i32.add (local.get $o) (local.get $panel)))
        (local.set $j (i32.add (local.get $j) (i32.const 8)))
        (br $vl)))
      (block $jd (loop $jl
        (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
        (f32.store (i32.add (local.get $o) (i32.shl (i32.and (local.get $j) (i32.const 7)) (i32.const 2)))
          (f32.load (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jl)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $pl))))

  ;; store8 writes the first min(n, 8) lanes of lo, hi at addr.
  (func $store8 (param $addr i32) (param $lo v128) (param $hi v128) (param $n i32)
    (if (i32.ge_u (local.get $n) (i32.const 8))
      (then
        (v128.store (local.get $addr) (local.get $lo))
        (v128.store offset=16 (local.get $addr) (local.get $hi))
        (return)))
    (call $store_row (local.get $addr) (local.get $lo) (local.get $n) (i32.const 0))
    (if (i32.gt_u (local.get $n) (i32.const 4))
      (then (call $store_row (i32.add (local.get $addr) (i32.const 16)) (local.get $hi) (i32.sub (local.get $n) (i32.const 4)) (i32.const 0)))))

  ;; gemm_4x8 sets C[i][j] = Σ_p A[i][p]·B[p][j] for i < m, j < n, p < k4 (a multiple of
  ;; 4): A at a (stride lda floats), B in panels at bp, C at c (stride ldc floats). Four
  ;; rows × eight columns a tile, panel by panel so one panel stays in L1 while A's rows
  ;; pass; per column step two loads of B and four broadcasts of A for eight
  ;; multiply-adds. Rows of a last, partial tile repeat the row above (never stored).
  (func $gemm_4x8 (export "gemm_4x8")
    (param $m i32) (param $n i32) (param $k4 i32) (param $a i32) (param $lda i32) (param $bp i32) (param $c i32) (param $ldc i32)
    (local $i i32) (local $j i32) (local $pb i32) (local $end i32) (local $co i32)
    (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $r3 i32)
    (local $x v128) (local $y0 v128) (local $y1 v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $lda (i32.shl (local.get $lda) (i32.const 2)))
    (local.set $ldc (i32.shl (local.get $ldc) (i32.const 2)))
    (local.set $j (i32.const 0))
    (block $jd (loop $jl
      (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $i (i32.const 0))
      (block $id (loop $il
        (br_if $id (i32.ge_u (local.get $i) (local.get $m)))
        (local.set $r0 (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $lda))))
        (local.set $r1 (local.get $r0))
        (if (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $m)) (then (local.set $r1 (i32.add (local.get $r0) (local.get $lda)))))
        (local.set $r2 (local.get $r1))
        (if (i32.lt_u (i32.add (local.get $i) (i32.const 2)) (local.get $m)) (then (local.set $r2 (i32.add (local.get $r1) (local.get $lda)))))
        (local.set $r3 (local.get $r2))
        (if (i32.lt_u (i32.add (local.get $i) (i32.const 3)) (local.get $m)) (then (local.set $r3 (i32.add (local.get $r2) (local.get $lda)))))
        (local.set $pb (i32.add (local.get $bp) (i32.mul (i32.shr_u (local.get $j) (i32.const 3)) (i32.shl (local.get $k4) (i32.const 5)))))
        (local.set $end (i32.add (local.get $r0) (i32.shl (local.get $k4) (i32.const 2))))
        (local.set $c00 (v128.const i64x2 0 0)) (local.set $c01 (v128.const i64x2 0 0))
        (local.set $c10 (v128.const i64x2 0 0)) (local.set $c11 (v128.const i64x2 0 0))
        (local.set $c20 (v128.const i64x2 0 0)) (local.set $c21 (v128.const i64x2 0 0))
        (local.set $c30 (v128.const i64x2 0 0)) (local.set $c31 (v128.const i64x2 0 0))
        (block $kd (loop $kl
          (br_if $kd (i32.ge_u (local.get $r0) (local.get $end)))
          (local.set $y0 (v128.load offset=0 (local.get $pb)))
          (local.set $y1 (v128.load offset=16 (local.get $pb)))
          (local.set $x (v128.load32_splat offset=0 (local.get $r0)))
          (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $y0)))) ;; madd
          (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $y1)))) ;; madd
          (local.set $x (v128.load32_splat offset=0 (local.get $r1)))
          (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $y0)))) ;; madd
          (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $y1)))) ;; madd
          (local.set $x (v128.load32_splat offset=0 (local.get $r2)))
          (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $y0)))) ;; madd
          (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $y1)))) ;; madd
          (local.set $x (v128.load32_splat offset=0 (local.get $r3)))
          (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $y0)))) ;; madd
          (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $y1)))) ;; madd
          (local.set $y0 (v128.load offset=32 (local.get $pb)))
          (local.set $y1 (v128.load offset=48 (local.get $pb)))
          (local.set $x (v128.load32_splat offset=4 (local.get $r0)))
          (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $y0)))) ;; madd
          (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $y1)))) ;; madd
          (local.set $x (v128.load32_splat offset=4 (local.get $r1)))
          (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $y0)))) ;; madd
          (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $y1)))) ;; madd
          (local.set $x (v128.load32_splat offset=4 (local.get $r2)))
          (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $y0)))) ;; madd
          (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $y1)))) ;; madd
          (local.set $x (v128.load32_splat offset=4 (local.get $r3)))
          (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $y0)))) ;; madd
          (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $y1)))) ;; madd
          (local.set $y0 (v128.load offset=64 (local.get $pb)))
          (local.set $y1 (v128.load offset=80 (local.get $pb)))
          (local.set $x (v128.load32_splat offset=8 (local.get $r0)))
          (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $y0)))) ;; madd
          (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $y1)))) ;; madd
          (local.set $x (v128.load32_splat offset=8 (local.get $r1)))
          (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $y0)))) ;; madd
          (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $y1)))) ;; madd
          (local.set $x (v128.load32_splat offset=8 (local.get $r2)))
          (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $y0)))) ;; madd
          (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $y1)))) ;; madd
          (local.set $x (v128.load32_splat offset=8 (local.get $r3)))
          (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $y0)))) ;; madd
          (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $y1)))) ;; madd
          (local.set $y0 (v128.load offset=96 (local.get $pb)))
          (local.set $y1 (v128.load offset=112 (local.get $pb)))
          (local.set $x (v128.load32_splat offset=12 (local.get $r0)))
          (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $y0)))) ;; madd
          (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $y1)))) ;; madd
          (local.set $x (v128.load32_splat offset=12 (local.get $r1)))
          (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $y0)))) ;; madd
          (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $y1)))) ;; madd
          (local.set $x (v128.load32_splat offset=12 (local.get $r2)))
          (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $y0)))) ;; madd
          (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $y1)))) ;; madd
          (local.set $x (v128.load32_splat offset=12 (local.get $r3)))
          (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $y0)))) ;; madd
          (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $y1)))) ;; madd
          (local.set $r0 (i32.add (local.get $r0) (i32.const 16)))
          (local.set $r1 (i32.add (local.get $r1) (i32.const 16)))
          (local.set $r2 (i32.add (local.get $r2) (i32.const 16)))
          (local.set $r3 (i32.add (local.get $r3) (i32.const 16)))
          (local.set $pb (i32.add (local.get $pb) (i32.const 128)))
          (br $kl)))
        (local.set $co (i32.add (local.get $c) (i32.add (i32.mul (local.get $i) (local.get $ldc)) (i32.shl (local.get $j) (i32.const 2)))))
        (if (i32.and (i32.ge_u (i32.sub (local.get $n) (local.get $j)) (i32.const 8)) (i32.le_u (i32.add (local.get $i) (i32.const 4)) (local.get $m)))
          (then
            ;; a whole tile stored here: store8's calls spill every v128 register around
            ;; them, 13–16% of the scores' product (k = 64)
            (v128.store (local.get $co) (local.get $c00))
            (v128.store offset=16 (local.get $co) (local.get $c01))
            (local.set $co (i32.add (local.get $co) (local.get $ldc)))
            (v128.store (local.get $co) (local.get $c10))
            (v128.store offset=16 (local.get $co) (local.get $c11))
            (local.set $co (i32.add (local.get $co) (local.get $ldc)))
            (v128.store (local.get $co) (local.get $c20))
            (v128.store offset=16 (local.get $co) (local.get $c21))
            (local.set $co (i32.add (local.get $co) (local.get $ldc)))
            (v128.store (local.get $co) (local.get $c30))
            (v128.store offset=16 (local.get $co) (local.get $c31)))
          (else
            (call $store8 (local.get $co) (local.get $c00) (local.get $c01) (i32.sub (local.get $n) (local.get $j)))
            (if (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $m))
              (then (call $store8 (i32.add (local.get $co) (i32.mul (local.get $ldc) (i32.const 1))) (local.get $c10) (local.get $c11) (i32.sub (local.get $n) (local.get $j)))))
            (if (i32.lt_u (i32.add (local.get $i) (i32.const 2)) (local.get $m))
              (then (call $store8 (i32.add (local.get $co) (i32.mul (local.get $ldc) (i32.const 2))) (local.get $c20) (local.get $c21) (i32.sub (local.get $n) (local.get $j)))))
            (if (i32.lt_u (i32.add (local.get $i) (i32.const 3)) (local.get $m))
              (then (call $store8 (i32.add (local.get $co) (i32.mul (local.get $ldc) (i32.const 3))) (local.get $c30) (local.get $c31) (i32.sub (local.get $n) (local.get $j)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $il)))
      (local.set $j (i32.add (local.get $j) (i32.const 8)))
      (br $jl))))

  ;; ---- attention's values in i16 ----------------------------------------------------

  ;; With Int8, attention's values product is exact integer arithmetic on i16 (Int8PV):
  ;; i32x4.dot_i16x8_s does eight multiply-adds where f32x4 FMA does four. A row's
  ;; probabilities are p = round(32767·e·rs) (softmax_rows' e and rs = 1/Σe), so Σp ≤
  ;; 32767 + k/2; a head's values are v = round(x/s) with one s = max|x|/32767 a column; so
  ;; every i32 sum is bounded by (32767 + k/2)·32767 < 2³¹, whatever k. Both quantizers
  ;; round as quant_pack_a does (the low bits of v + 1.5·2²³, ties to even), written out
  ;; where it is used: a call in the loop spilled every v128 register around it.

  ;; probs_i16 writes rows of softmax_rows' output (stride ld floats, k4 a multiple of 4,
  ;; its zeros included) as gemm_pv_i16's probabilities: blocks of four rows (rows past
  ;; the last zero), each block k4/2 steps of 16 bytes, step t holding rows' i16 pairs
  ;; (p[2t], p[2t+1]) in lanes 0–3, so the product broadcasts one lane a row.
  (func $probs_i16 (export "probs_i16") (param $x i32) (param $rows i32) (param $ld i32) (param $k4 i32) (param $rs i32) (param $out i32)
    (local $i i32) (local $r i32) (local $t i32) (local $end i32) (local $o i32)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local $r1 i32) (local $r2 i32) (local $r3 i32) (local $ab v128) (local $cd v128)
    (local.set $ld (i32.shl (local.get $ld) (i32.const 2)))
    (local.set $o (local.get $out))
    (local.set $i (i32.const 0))
    (block $id (loop $il
      (br_if $id (i32.ge_u (local.get $i) (local.get $rows)))
      ;; rows past the last read row i with scale 0: zeros
      (local.set $s0 (call $prob_scale (local.get $rs) (local.get $i) (local.get $rows)))
      (local.set $s1 (call $prob_scale (local.get $rs) (i32.add (local.get $i) (i32.const 1)) (local.get $rows)))
      (local.set $s2 (call $prob_scale (local.get $rs) (i32.add (local.get $i) (i32.const 2)) (local.get $rows)))
      (local.set $s3 (call $prob_scale (local.get $rs) (i32.add (local.get $i) (i32.const 3)) (local.get $rows)))
      (local.set $r (i32.add (local.get $x) (i32.mul (local.get $i) (local.get $ld))))
      (local.set $r1 (i32.add (local.get $x) (i32.mul (call $minu (i32.add (local.get $i) (i32.const 1)) (i32.sub (local.get $rows) (i32.const 1))) (local.get $ld))))
      (local.set $r2 (i32.add (local.get $x) (i32.mul (call $minu (i32.add (local.get $i) (i32.const 2)) (i32.sub (local.get $rows) (i32.const 1))) (local.get $ld))))
      (local.set $r3 (i32.add (local.get $x) (i32.mul (call $minu (i32.add (local.get $i) (i32.const 3)) (i32.sub (local.get $rows) (i32.const 1))) (local.get $ld))))
      (local.set $t (i32.const 0))
      (local.set $end (i32.shl (local.get $k4) (i32.const 2)))
      (block $td (loop $tl
        (br_if $td (i32.ge_u (local.get $t) (local.get $end)))
        ;; four values of each row: i32 lanes (p0p1, p2p3) of a and b, then c and d
        (local.set $ab (i16x8.narrow_i32x4_s (i32x4.sub (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $r) (local.get $t))) (local.get $s0)) (v128.const f32x4 12582912 12582912 12582912 12582912)) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000))
                                             (i32x4.sub (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $r1) (local.get $t))) (local.get $s1)) (v128.const f32x4 12582912 12582912 12582912 12582912)) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000))))
        (local.set $cd (i16x8.narrow_i32x4_s (i32x4.sub (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $r2) (local.get $t))) (local.get $s2)) (v128.const f32x4 12582912 12582912 12582912 12582912)) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000))
                                             (i32x4.sub (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $r3) (local.get $t))) (local.get $s3)) (v128.const f32x4 12582912 12582912 12582912 12582912)) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000))))
        (v128.store (local.get $o) (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $ab) (local.get $cd)))
        (v128.store offset=16 (local.get $o) (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $ab) (local.get $cd)))
        (local.set $o (i32.add (local.get $o) (i32.const 32)))
        (local.set $t (i32.add (local.get $t) (i32.const 16)))
        (br $tl)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $il))))

  ;; prob_scale is 32767·rs[i] in every lane, 0 for i ≥ rows.
  (func $prob_scale (param $rs i32) (param $i i32) (param $rows i32) (result v128)
    (if (result v128) (i32.lt_u (local.get $i) (local.get $rows))
      (then (f32x4.splat (f32.mul (f32.load (i32.add (local.get $rs) (i32.shl (local.get $i) (i32.const 2)))) (f32.const 32767))))
      (else (v128.const i64x2 0 0))))

  ;; pack_v_i16 quantizes a head's values, k rows of n columns (n a multiple of 8; src
  ;; stride lds floats), to i16 with one scale a column, s = max|x|/32767 (1 for a zero
  ;; column), and packs them for gemm_pv_i16: panels of 8 columns, each k4/2 steps of 32
  ;; bytes (k4 ≥ k, even; rows past k zero), step t holding the pairs (v[2t][c],
  ;; v[2t+1][c]) of columns 0–3, then 4–7. fv[c] = s/32767, the product's factor; inv
  ;; (n floats) is scratch.
  (func $pack_v_i16 (export "pack_v_i16")
    (param $src i32) (param $lds i32) (param $k i32) (param $n i32) (param $out i32) (param $k4 i32) (param $fv i32) (param $inv i32)
    (local $p i32) (local $c i32) (local $row i32) (local $row1 i32) (local $o i32) (local $panel i32) (local $cb i32)
    (local $s v128) (local $a v128) (local $b v128) (local $i0 v128) (local $i1 v128)
    (local.set $lds (i32.shl (local.get $lds) (i32.const 2)))
    (local.set $panel (i32.shl (local.get $k4) (i32.const 4))) ;; bytes a panel: k4/2 steps of 32
    (local.set $cb (i32.shl (local.get $n) (i32.const 2)))
    (memory.fill (local.get $fv) (i32.const 0) (local.get $cb))
    ;; each column's max |x|, row by row (a row's n values lie together)
    (local.set $p (i32.const 0))
    (block $md (loop $ml
      (br_if $md (i32.ge_u (local.get $p) (local.get $k)))
      (local.set $row (i32.add (local.get $src) (i32.mul (local.get $p) (local.get $lds))))
      (local.set $c (i32.const 0))
      (block $cd (loop $cl
        (br_if $cd (i32.ge_u (local.get $c) (local.get $cb)))
        (v128.store (i32.add (local.get $fv) (local.get $c))
          (f32x4.max (v128.load (i32.add (local.get $fv) (local.get $c))) (f32x4.abs (v128.load (i32.add (local.get $row) (local.get $c))))))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (br $cl)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $ml)))
    (local.set $c (i32.const 0))
    (block $sd (loop $sl
      (br_if $sd (i32.ge_u (local.get $c) (local.get $cb)))
      (local.set $s (f32x4.div (v128.load (i32.add (local.get $fv) (local.get $c))) (v128.const f32x4 32767 32767 32767 32767)))
      (local.set $s (v128.bitselect (v128.const f32x4 1 1 1 1) (local.get $s) (f32x4.eq (local.get $s) (v128.const i64x2 0 0))))
      (v128.store (i32.add (local.get $inv) (local.get $c)) (f32x4.div (v128.const f32x4 1 1 1 1) (local.get $s)))
      (v128.store (i32.add (local.get $fv) (local.get $c)) (f32x4.mul (local.get $s) (v128.const f32x4 0x1.0002p-15 0x1.0002p-15 0x1.0002p-15 0x1.0002p-15)))
      (local.set $c (i32.add (local.get $c) (i32.const 16)))
      (br $sl)))
    (memory.fill (local.get $out) (i32.const 0) (i32.mul (i32.shr_u (local.get $n) (i32.const 3)) (local.get $panel)))
    ;; row pairs: four columns of two rows, rounded, narrowed and interleaved
    (local.set $p (i32.const 0))
    (block $pd (loop $pl
      (br_if $pd (i32.ge_u (local.get $p) (local.get $k)))
      (local.set $row (i32.add (local.get $src) (i32.mul (local.get $p) (local.get $lds))))
      (local.set $row1 (i32.add (local.get $row) (local.get $lds)))
      (local.set $o (i32.add (local.get $out) (i32.shl (local.get $p) (i32.const 4)))) ;; step p/2: 32·(p/2) bytes
      (local.set $c (i32.const 0))
      (block $vd (loop $vl
        (br_if $vd (i32.ge_u (local.get $c) (local.get $cb)))
        (local.set $i0 (v128.load (i32.add (local.get $inv) (local.get $c))))
        (local.set $i1 (v128.load offset=16 (i32.add (local.get $inv) (local.get $c))))
        (if (i32.lt_u (i32.add (local.get $p) (i32.const 1)) (local.get $k))
          (then
            (local.set $a (v128.load (i32.add (local.get $row1) (local.get $c))))
            (local.set $b (v128.load offset=16 (i32.add (local.get $row1) (local.get $c)))))
          (else (local.set $a (v128.const i64x2 0 0)) (local.set $b (v128.const i64x2 0 0))))
        (v128.store (local.get $o) (i8x16.shuffle 0 1 8 9 2 3 10 11 4 5 12 13 6 7 14 15
          (i16x8.narrow_i32x4_s (i32x4.sub (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $row) (local.get $c))) (local.get $i0)) (v128.const f32x4 12582912 12582912 12582912 12582912)) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000))
                                (i32x4.sub (f32x4.add (f32x4.mul (local.get $a) (local.get $i0)) (v128.const f32x4 12582912 12582912 12582912 12582912)) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000)))
          (local.get $a)))
        (v128.store offset=16 (local.get $o) (i8x16.shuffle 0 1 8 9 2 3 10 11 4 5 12 13 6 7 14 15
          (i16x8.narrow_i32x4_s (i32x4.sub (f32x4.add (f32x4.mul (v128.load offset=16 (i32.add (local.get $row) (local.get $c))) (local.get $i1)) (v128.const f32x4 12582912 12582912 12582912 12582912)) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000))
                                (i32x4.sub (f32x4.add (f32x4.mul (local.get $b) (local.get $i1)) (v128.const f32x4 12582912 12582912 12582912 12582912)) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000)))
          (local.get $b)))
        (local.set $o (i32.add (local.get $o) (local.get $panel)))
        (local.set $c (i32.add (local.get $c) (i32.const 32)))
        (br $vl)))
      (local.set $p (i32.add (local.get $p) (i32.const 2)))
      (br $pl))))

  ;; gemm_pv_i16 sets y[i][c] = fv[c]·Σ_t p_i·v_c (i < m, c < n, a multiple of 8; y's
  ;; stride ldy floats) over kp steps of probs_i16's probabilities at pa and
  ;; pack_v_i16's values at vp. Four rows × eight columns a tile, panel by panel (a
  ;; panel, 32·kp bytes, stays in L1 while the rows pass): per step two loads of values
  ;; and four broadcasts of probabilities for eight i16 dots.
  (func $gemm_pv_i16 (export "gemm_pv_i16")
    (param $m i32) (param $n i32) (param $kp i32) (param $pa i32) (param $vp i32) (param $fv i32) (param $y i32) (param $ldy i32)
    (local $i i32) (local $j i32) (local $a i32) (local $pb i32) (local $end i32) (local $co i32) (local $panel i32) (local $block i32)
    (local $x v128) (local $v0 v128) (local $v1 v128) (local $f0 v128) (local $f1 v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $ldy (i32.shl (local.get $ldy) (i32.const 2)))
    (local.set $panel (i32.shl (local.get $kp) (i32.const 5)))
    (local.set $block (i32.shl (local.get $kp) (i32.const 4)))
    (local.set $j (i32.const 0))
    (block $jd (loop $jl
      (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $f0 (v128.load (i32.add (local.get $fv) (i32.shl (local.get $j) (i32.const 2)))))
      (local.set $f1 (v128.load offset=16 (i32.add (local.get $fv) (i32.shl (local.get $j) (i32.const 2)))))
      (local.set $i (i32.const 0))
      (local.set $a (local.get $pa))
      (block $id (loop $il
        (br_if $id (i32.ge_u (local.get $i) (local.get $m)))
        (local.set $pb (i32.add (local.get $vp) (i32.mul (i32.shr_u (local.get $j) (i32.const 3)) (local.get $panel))))
        (local.set $end (i32.add (local.get $pb) (local.get $panel)))
        (local.set $c00 (v128.const i64x2 0 0)) (local.set $c01 (v128.const i64x2 0 0))
        (local.set $c10 (v128.const i64x2 0 0)) (local.set $c11 (v128.const i64x2 0 0))
        (local.set $c20 (v128.const i64x2 0 0)) (local.set $c21 (v128.const i64x2 0 0))
        (local.set $c30 (v128.const i64x2 0 0)) (local.set $c31 (v128.const i64x2 0 0))
        (block $kd (loop $kl
          (br_if $kd (i32.ge_u (local.get $pb) (local.get $end)))
          (local.set $v0 (v128.load (local.get $pb)))
          (local.set $v1 (v128.load offset=16 (local.get $pb)))
          (local.set $x (v128.load32_splat (local.get $a)))
          (local.set $c00 (i32x4.add (local.get $c00) (i32x4.dot_i16x8_s (local.get $x) (local.get $v0))))
          (local.set $c01 (i32x4.add (local.get $c01) (i32x4.dot_i16x8_s (local.get $x) (local.get $v1))))
          (local.set $x (v128.load32_splat offset=4 (local.get $a)))
          (local.set $c10 (i32x4.add (local.get $c10) (i32x4.dot_i16x8_s (local.get $x) (local.get $v0))))
          (local.set $c11 (i32x4.add (local.get $c11) (i32x4.dot_i16x8_s (local.get $x) (local.get $v1))))
          (local.set $x (v128.load32_splat offset=8 (local.get $a)))
          (local.set $c20 (i32x4.add (local.get $c20) (i32x4.dot_i16x8_s (local.get $x) (local.get $v0))))
          (local.set $c21 (i32x4.add (local.get $c21) (i32x4.dot_i16x8_s (local.get $x) (local.get $v1))))
          (local.set $x (v128.load32_splat offset=12 (local.get $a)))
          (local.set $c30 (i32x4.add (local.get $c30) (i32x4.dot_i16x8_s (local.get $x) (local.get $v0))))
          (local.set $c31 (i32x4.add (local.get $c31) (i32x4.dot_i16x8_s (local.get $x) (local.get $v1))))
          (local.set $a (i32.add (local.get $a) (i32.const 16)))
          (local.set $pb (i32.add (local.get $pb) (i32.const 32)))
          (br $kl)))
        (local.set $co (i32.add (local.get $y) (i32.add (i32.mul (local.get $i) (local.get $ldy)) (i32.shl (local.get $j) (i32.const 2)))))
        (v128.store (local.get $co) (f32x4.mul (f32x4.convert_i32x4_s (local.get $c00)) (local.get $f0)))
        (v128.store offset=16 (local.get $co) (f32x4.mul (f32x4.convert_i32x4_s (local.get $c01)) (local.get $f1)))
        (if (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $m))
          (then
            (local.set $co (i32.add (local.get $co) (local.get $ldy)))
            (v128.store (local.get $co) (f32x4.mul (f32x4.convert_i32x4_s (local.get $c10)) (local.get $f0)))
            (v128.store offset=16 (local.get $co) (f32x4.mul (f32x4.convert_i32x4_s (local.get $c11)) (local.get $f1)))))
        (if (i32.lt_u (i32.add (local.get $i) (i32.const 2)) (local.get $m))
          (then
            (local.set $co (i32.add (local.get $co) (local.get $ldy)))
            (v128.store (local.get $co) (f32x4.mul (f32x4.convert_i32x4_s (local.get $c20)) (local.get $f0)))
            (v128.store offset=16 (local.get $co) (f32x4.mul (f32x4.convert_i32x4_s (local.get $c21)) (local.get $f1)))))
        (if (i32.lt_u (i32.add (local.get $i) (i32.const 3)) (local.get $m))
          (then
            (local.set $co (i32.add (local.get $co) (local.get $ldy)))
            (v128.store (local.get $co) (f32x4.mul (f32x4.convert_i32x4_s (local.get $c30)) (local.get $f0)))
            (v128.store offset=16 (local.get $co) (f32x4.mul (f32x4.convert_i32x4_s (local.get $c31)) (local.get $f1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $il)))
      (local.set $j (i32.add (local.get $j) (i32.const 8)))
      (br $jl))))

  ;; ---- int8 weights --------------------------------------------------------------------

  ;; dequant_pack_q8 dequantizes rows×cols int8 weights (w: row stride ldw bytes) into
  ;; pack_b's quad layout with k4 columns: element (r, c) = w[r][c]·scale, scale =
  ;; scales[r·groups + (col0+c)/group]. Sixteen weights at a time, so a 16-column run must
  ;; lie in one group: one scale per row, or group and col0 multiples of 16 (the caller
  ;; checks).
  (func $dequant_pack_q8 (export "dequant_pack_q8")
    (param $rows i32) (param $cols i32) (param $w i32) (param $ldw i32)
    (param $scales i32) (param $groups i32) (param $group i32) (param $col0 i32)
    (param $out i32) (param $k4 i32)
    (local $r i32) (local $c i32) (local $c16 i32) (local $pw i32) (local $po i32) (local $ps i32)
    (local $q v128) (local $h v128) (local $s v128)
    (if (i32.and (local.get $rows) (i32.const 3))
      (then (memory.fill
        (i32.add (local.get $out) (i32.shl (i32.mul (i32.shr_u (local.get $rows) (i32.const 2)) (local.get $k4)) (i32.const 4)))
        (i32.const 0) (i32.shl (local.get $k4) (i32.const 4)))))
    (local.set $c16 (i32.and (local.get $cols) (i32.const -16)))
    (local.set $r (i32.const 0))
    (block $rd
      (loop $rl
        (br_if $rd (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $pw (i32.add (local.get $w) (i32.mul (local.get $r) (local.get $ldw))))
        ;; row r: quad r/4, slot r%4; column c of it is at po + c·16 (c a multiple of 4)
        (local.set $po (i32.add (local.get $out)
          (i32.add (i32.shl (i32.mul (i32.shr_u (local.get $r) (i32.const 2)) (local.get $k4)) (i32.const 4))
                   (i32.shl (i32.and (local.get $r) (i32.const 3)) (i32.const 4)))))
        (local.set $ps (i32.add (local.get $scales) (i32.shl (i32.mul (local.get $r) (local.get $groups)) (i32.const 2))))
        (local.set $c (i32.const 0))
        (block $cd
          (loop $cl
            (br_if $cd (i32.ge_u (local.get $c) (local.get $c16)))
            (local.set $s (f32x4.splat (f32.load (i32.add (local.get $ps)
              (i32.shl (i32.div_u (i32.add (local.get $col0) (local.get $c)) (local.get $group)) (i32.const 2))))))
            (local.set $q (v128.load (i32.add (local.get $pw) (local.get $c))))
            (local.set $h (i16x8.extend_low_i8x16_s (local.get $q)))
            (v128.store (local.get $po) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (local.get $h))) (local.get $s)))
            (v128.store offset=64 (local.get $po) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (local.get $h))) (local.get $s)))
            (local.set $h (i16x8.extend_high_i8x16_s (local.get $q)))
            (v128.store offset=128 (local.get $po) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (local.get $h))) (local.get $s)))
            (v128.store offset=192 (local.get $po) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (local.get $h))) (local.get $s)))
            (local.set $po (i32.add (local.get $po) (i32.const 256)))
            (local.set $c (i32.add (local.get $c) (i32.const 16)))
            (br $cl)))
        ;; the ragged end: one k-step of 4 (zero-padded) at a time
        (block $td
          (loop $tl
            (br_if $td (i32.ge_u (local.get $c) (local.get $k4)))
            (v128.store (local.get $po) (v128.const i64x2 0 0))
            (call $deq_tail (local.get $po) (i32.add (local.get $pw) (local.get $c)) (i32.sub (local.get $cols) (local.get $c))
              (f32.load (i32.add (local.get $ps) (i32.shl (i32.div_u (i32.add (local.get $col0) (local.get $c)) (local.get $group)) (i32.const 2)))))
            (local.set $po (i32.add (local.get $po) (i32.const 64)))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $tl)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rl))))

  ;; deq_tail writes min(n, 4) dequantized weights (n ≤ 0: none). The tail shares one
  ;; scale: it is the end of a row, inside the row's last group.
  (func $deq_tail (param $dst i32) (param $q i32) (param $n i32) (param $s f32)
    (if (i32.gt_s (local.get $n) (i32.const 4)) (then (local.set $n (i32.const 4))))
    (block $d (loop $l
      (br_if $d (i32.le_s (local.get $n) (i32.const 0)))
      (f32.store (local.get $dst) (f32.mul (f32.convert_i32_s (i32.load8_s (local.get $q))) (local.get $s)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l))))

  ;; gemv_q8 is y = x·Wᵀ for a few rows of x and int8 W (n rows of k), reading the
  ;; weights once: y[i][j] = Σ_g scale[j][g] Σ_{p in g} x[i][p]·w[j][p]. group must be k
  ;; (one scale per row) or a multiple of 16 (the caller checks). Strides: ldx, ldy floats; W rows are k bytes.
  (func $gemv_q8 (export "gemv_q8")
    (param $m i32) (param $n i32) (param $k i32) (param $x i32) (param $ldx i32)
    (param $w i32) (param $scales i32) (param $group i32) (param $y i32) (param $ldy i32)
    (local $i i32) (local $j i32) (local $g i32) (local $groups i32) (local $p i32) (local $gend i32)
    (local $pw i32) (local $px i32) (local $acc f32)
    (local $q v128) (local $h v128) (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128)
    (local.set $groups (i32.div_u (i32.add (local.get $k) (i32.sub (local.get $group) (i32.const 1))) (local.get $group)))
    (local.set $j (i32.const 0))
    (block $jd
      (loop $jl
        (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $i (i32.const 0))
        (block $id
          (loop $il
            (br_if $id (i32.ge_u (local.get $i) (local.get $m)))
            (local.set $acc (f32.const 0))
            (local.set $pw (i32.add (local.get $w) (i32.mul (local.get $j) (local.get $k))))
            (local.set $px (i32.add (local.get $x) (i32.shl (i32.mul (local.get $i) (local.get $ldx)) (i32.const 2))))
            (local.set $g (i32.const 0))
            (block $gd
              (loop $gl
                (br_if $gd (i32.ge_u (local.get $g) (local.get $groups)))
                (local.set $s0 (v128.const i64x2 0 0)) (local.set $s1 (v128.const i64x2 0 0))
                (local.set $s2 (v128.const i64x2 0 0)) (local.set $s3 (v128.const i64x2 0 0))
                (local.set $gend (i32.mul (i32.add (local.get $g) (i32.const 1)) (local.get $group)))
                (if (i32.gt_u (local.get $gend) (local.get $k)) (then (local.set $gend (local.get $k))))
                (local.set $p (i32.mul (local.get $g) (local.get $group)))
                (block $pd
                  (loop $pl
                    (br_if $pd (i32.gt_u (i32.add (local.get $p) (i32.const 16)) (local.get $gend)))
                    (local.set $q (v128.load (i32.add (local.get $pw) (local.get $p))))
                    (local.set $h (i16x8.extend_low_i8x16_s (local.get $q)))
                    (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (local.get $h))) (v128.load (i32.add (local.get $px) (i32.shl (local.get $p) (i32.const 2))))))) ;; madd
                    (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (local.get $h))) (v128.load offset=16 (i32.add (local.get $px) (i32.shl (local.get $p) (i32.const 2))))))) ;; madd
                    (local.set $h (i16x8.extend_high_i8x16_s (local.get $q)))
                    (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (local.get $h))) (v128.load offset=32 (i32.add (local.get $px) (i32.shl (local.get $p) (i32.const 2))))))) ;; madd
                    (local.set $s3 (f32x4.add (local.get $s3) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (local.get $h))) (v128.load offset=48 (i32.add (local.get $px) (i32.shl (local.get $p) (i32.const 2))))))) ;; madd
                    (local.set $p (i32.add (local.get $p) (i32.const 16)))
                    (br $pl)))
                (local.set $acc (f32.add (local.get $acc)
                  (f32.mul
                    (f32.add (call $hsum (f32x4.add (f32x4.add (local.get $s0) (local.get $s1)) (f32x4.add (local.get $s2) (local.get $s3))))
                      (call $qtail (i32.add (local.get $px) (i32.shl (local.get $p) (i32.const 2))) (i32.add (local.get $pw) (local.get $p)) (i32.sub (local.get $gend) (local.get $p))))
                    (f32.load (i32.add (local.get $scales) (i32.shl (i32.add (i32.mul (local.get $j) (local.get $groups)) (local.get $g)) (i32.const 2)))))))
                (local.set $g (i32.add (local.get $g) (i32.const 1)))
                (br $gl)))
            (f32.store (i32.add (local.get $y) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $ldy)) (local.get $j)) (i32.const 2))) (local.get $acc))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $il)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jl))))

  ;; quant_row_i16 is QuantizeRowI16 for gemv_q8_i16: sx = max|x|/levels (1 for a row of
  ;; zeros), out[p] = round-half-even(x[p]/sx) as i16, clamped to ±levels; k a multiple
  ;; of 8. In Go it cost a decoder step about as much as its products.
  (func $quant_row_i16 (export "quant_row_i16")
    (param $x i32) (param $k i32) (param $levels f32) (param $out i32) (param $sx i32)
    (local $p i32) (local $end i32) (local $mx v128) (local $m f32) (local $s f32) (local $inv v128) (local $lv v128)
    (local.set $end (i32.shl (local.get $k) (i32.const 2)))
    (local.set $mx (v128.const i64x2 0 0))
    (local.set $p (i32.const 0))
    (block $md (loop $ml
      (br_if $md (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $mx (f32x4.max (local.get $mx) (f32x4.abs (v128.load (i32.add (local.get $x) (local.get $p))))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $ml)))
    (local.set $m (f32.max (f32.max (f32x4.extract_lane 0 (local.get $mx)) (f32x4.extract_lane 1 (local.get $mx)))
                           (f32.max (f32x4.extract_lane 2 (local.get $mx)) (f32x4.extract_lane 3 (local.get $mx)))))
    (local.set $s (f32.div (local.get $m) (local.get $levels)))
    (if (f32.eq (local.get $s) (f32.const 0)) (then (local.set $s (f32.const 1))))
    (f32.store (local.get $sx) (local.get $s))
    (local.set $inv (f32x4.splat (f32.div (f32.const 1) (local.get $s))))
    (local.set $lv (i32x4.splat (i32.trunc_f32_s (local.get $levels))))
    (local.set $p (i32.const 0))
    (block $qd (loop $ql
      (br_if $qd (i32.ge_u (local.get $p) (local.get $end)))
      (v128.store (i32.add (local.get $out) (i32.shr_u (local.get $p) (i32.const 1)))
        (i16x8.narrow_i32x4_s
          (i32x4.max_s (i32x4.min_s (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load (i32.add (local.get $x) (local.get $p))) (local.get $inv))))
                                    (local.get $lv)) (i32x4.neg (local.get $lv)))
          (i32x4.max_s (i32x4.min_s (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul (v128.load offset=16 (i32.add (local.get $x) (local.get $p))) (local.get $inv))))
                                    (local.get $lv)) (i32x4.neg (local.get $lv)))))
      (local.set $p (i32.add (local.get $p) (i32.const 32)))
      (br $ql))))

  ;; gemv_q8_i16 is the int8 product for one row of activations (a decoder step) on the
  ;; int8-activation path: y[j] = f32(Σ_p x̂[p]·w[j][p])·sx·sw[j] for j < n, x̂ the row
  ;; quantized to i16 with one scale (QuantizeRowI16: symmetric, no offset, so the
  ;; weights' row sums are not needed), over the weights as they lie (row j at w + j·ldw;
  ;; k a multiple of 16). Each 16 weights are widened to i16 and dotted pairwise into
  ;; i32, exactly: six instructions where gemv_q8 spends some twenty widening them to
  ;; floats (and the packing gemm_q8q7 wants would cost more than the product at one
  ;; row). One weight row at a time: four at once, sharing the activations' loads, ran
  ;; the 23 MB head at 4 GB/s against 17 one at a time (here, from memory). The row two
  ;; ahead is touched first (touch_lines), a decoder step's weights coming from memory:
  ;; on an Intel Xeon a second question's products in the page 235–243 → 178–197 ms
  ;; (make bench's second-question profile, six alternating runs). Touching the KV cache
  ;; ahead the same way in attn_qk_row and attn_pv_row changed nothing.
  (func $gemv_q8_i16 (export "gemv_q8_i16")
    (param $n i32) (param $k i32) (param $xq i32) (param $w i32) (param $ldw i32)
    (param $sx i32) (param $sw i32) (param $y i32)
    (local $j i32) (local $p i32) (local $row i32) (local $v v128) (local $c0 v128) (local $c1 v128)
    (local.set $j (i32.const 0))
    (block $jd (loop $jl
      (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $row (i32.add (local.get $w) (i32.mul (local.get $j) (local.get $ldw))))
      (if (i32.lt_u (i32.add (local.get $j) (i32.const 2)) (local.get $n)) (then
        (call $touch_lines (i32.add (local.get $row) (i32.shl (local.get $ldw) (i32.const 1))) (local.get $k))))
      (local.set $c0 (v128.const i64x2 0 0)) (local.set $c1 (v128.const i64x2 0 0))
      (local.set $p (i32.const 0))
      (block $kd (loop $kl
        (br_if $kd (i32.ge_u (local.get $p) (local.get $k)))
        (local.set $v (v128.load (i32.add (local.get $row) (local.get $p))))
        (local.set $c0 (i32x4.add (local.get $c0) (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $v))
          (v128.load (i32.add (local.get $xq) (i32.shl (local.get $p) (i32.const 1)))))))
        (local.set $c1 (i32x4.add (local.get $c1) (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $v))
          (v128.load offset=16 (i32.add (local.get $xq) (i32.shl (local.get $p) (i32.const 1)))))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $kl)))
      (local.set $c0 (i32x4.add (local.get $c0) (local.get $c1)))
      (f32.store (i32.add (local.get $y) (i32.shl (local.get $j) (i32.const 2)))
        (f32.mul (f32.mul (f32.convert_i32_s (i32.add (i32.add (i32x4.extract_lane 0 (local.get $c0)) (i32x4.extract_lane 1 (local.get $c0)))
                                                       (i32.add (i32x4.extract_lane 2 (local.get $c0)) (i32x4.extract_lane 3 (local.get $c0)))))
                          (f32.load (local.get $sx)))
                 (f32.load (i32.add (local.get $sw) (i32.shl (local.get $j) (i32.const 2))))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $jl))))

  ;; touch_lines loads a byte of each 64-byte line of [a, a+len) and drops it: wasm has no
  ;; prefetch, but V8 keeps a load (it may trap), so the lines are on their way from
  ;; memory before the product reaches them.
  (func $touch_lines (param $a i32) (param $len i32)
    (local $p i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $len)))
      (drop (i32.load8_u (i32.add (local.get $a) (local.get $p))))
      (local.set $p (i32.add (local.get $p) (i32.const 64)))
      (br $l))))

  ;; qtail is Σ x[p]·q[p] over a short tail of float x and int8 q.
  (func $qtail (param $x i32) (param $q i32) (param $k i32) (result f32)
    (local $r f32)
    (block $done
      (loop $l
        (br_if $done (i32.le_s (local.get $k) (i32.const 0)))
        (local.set $r (f32.add (local.get $r) (f32.mul (f32.load (local.get $x)) (f32.convert_i32_s (i32.load8_s (local.get $q))))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (local.set $k (i32.sub (local.get $k) (i32.const 1)))
        (br $l)))
    (local.get $r))

  ;; ---- int8 activations × int8 weights (relaxed SIMD only) ------------------------------
  ;;
  ;; The fast path for int8 weights: each row of x is quantized to 7 bits (0..127, its own
  ;; scale and offset), and i32x4.relaxed_dot_i8x16_i7x16_add_s multiplies 16 pairs of
  ;; bytes per instruction (VNNI on x86). The kernels here that use it sit in the block
  ;; comment below; the Makefile's relaxed build (kernels.Relaxed) uncomments it, so the
  ;; plain module stays valid where relaxed SIMD is missing.
  ;;
  ;; Layouts, 16 columns a k-step, k16 = k rounded up to 16:
  ;;   activations by row pairs: 16 bytes of row i, then 16 of row i+1 (pair: 2·k16 bytes);
  ;;   weights by row quads: 16 bytes of each of rows j..j+3 (quad: 4·k16 bytes).

  ;; quant_pack_a quantizes m rows of x (stride ldx floats, k columns) into row pairs:
  ;; q = round((x − min)/s), s = (max − min)/127, and stores s and min per row.
  (func $quant_pack_a (export "quant_pack_a")
    (param $x i32) (param $ldx i32) (param $m i32) (param $k i32) (param $out i32) (param $k16 i32)
    (param $sx i32) (param $zx i32)
    (local $i i32) (local $row i32) (local $end i32) (local $end4 i32) (local $p i32) (local $o i32)
    (local $mn v128) (local $mx v128) (local $mn2 v128) (local $mx2 v128) (local $v v128) (local $fmn f32) (local $fmx f32) (local $s f32) (local $inv v128) (local $zv v128)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (local.set $ldx (i32.shl (local.get $ldx) (i32.const 2)))
    ;; zeros where no row writes: past k in every chunk, or the odd last row's half of its pair
    (if (i32.ne (local.get $k) (local.get $k16))
      (then (memory.fill (local.get $out) (i32.const 0)
        (i32.mul (i32.shl (i32.shr_u (i32.add (local.get $m) (i32.const 1)) (i32.const 1)) (i32.const 1)) (local.get $k16))))
      (else (if (i32.and (local.get $m) (i32.const 1))
        (then (memory.fill (i32.add (local.get $out) (i32.mul (i32.shr_u (local.get $m) (i32.const 1)) (i32.shl (local.get $k16) (i32.const 1))))
          (i32.const 0) (i32.shl (local.get $k16) (i32.const 1)))))))
    (local.set $i (i32.const 0))
    (block $id (loop $il
      (br_if $id (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $row (i32.add (local.get $x) (i32.mul (local.get $i) (local.get $ldx))))
      (local.set $end (i32.add (local.get $row) (i32.shl (local.get $k) (i32.const 2))))
      (local.set $end4 (i32.add (local.get $row) (i32.shl (i32.and (local.get $k) (i32.const -4)) (i32.const 2))))
      ;; min and max, two vectors a step into two of each (one chain waits a min's
      ;; latency a vector: softmax_rows' maximum)
      (local.set $mn (v128.const f32x4 inf inf inf inf))
      (local.set $mx (v128.const f32x4 -inf -inf -inf -inf))
      (local.set $mn2 (local.get $mn))
      (local.set $mx2 (local.get $mx))
      (local.set $p (local.get $row))
      (block $d0 (loop $l0
        (br_if $d0 (i32.gt_u (i32.add (local.get $p) (i32.const 32)) (local.get $end4)))
        (local.set $v (v128.load (local.get $p)))
        (local.set $mn (f32x4.pmin (local.get $mn) (local.get $v)))
        (local.set $mx (f32x4.pmax (local.get $mx) (local.get $v)))
        (local.set $v (v128.load offset=16 (local.get $p)))
        (local.set $mn2 (f32x4.pmin (local.get $mn2) (local.get $v)))
        (local.set $mx2 (f32x4.pmax (local.get $mx2) (local.get $v)))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (br $l0)))
      (local.set $mn (f32x4.pmin (local.get $mn) (local.get $mn2)))
      (local.set $mx (f32x4.pmax (local.get $mx) (local.get $mx2)))
      (block $d1 (loop $l1
        (br_if $d1 (i32.ge_u (local.get $p) (local.get $end4)))
        (local.set $v (v128.load (local.get $p)))
        (local.set $mn (f32x4.pmin (local.get $mn) (local.get $v)))
        (local.set $mx (f32x4.pmax (local.get $mx) (local.get $v)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $l1)))
      (block $d2 (loop $l2
        (br_if $d2 (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $v (v128.load32_splat (local.get $p)))
        (local.set $mn (f32x4.min (local.get $mn) (local.get $v)))
        (local.set $mx (f32x4.max (local.get $mx) (local.get $v)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $l2)))
      (local.set $fmn (f32.min (f32.min (f32x4.extract_lane 0 (local.get $mn)) (f32x4.extract_lane 1 (local.get $mn)))
                               (f32.min (f32x4.extract_lane 2 (local.get $mn)) (f32x4.extract_lane 3 (local.get $mn)))))
      (local.set $fmx (f32.max (f32.max (f32x4.extract_lane 0 (local.get $mx)) (f32x4.extract_lane 1 (local.get $mx)))
                               (f32.max (f32x4.extract_lane 2 (local.get $mx)) (f32x4.extract_lane 3 (local.get $mx)))))
      (local.set $s (f32.div (f32.sub (local.get $fmx) (local.get $fmn)) (f32.const 127)))
      (if (f32.eq (local.get $s) (f32.const 0)) (then (local.set $s (f32.const 1))))
      (f32.store (i32.add (local.get $sx) (i32.shl (local.get $i) (i32.const 2))) (local.get $s))
      (f32.store (i32.add (local.get $zx) (i32.shl (local.get $i) (i32.const 2))) (local.get $fmn))
      (local.set $inv (f32x4.splat (f32.div (f32.const 1) (local.get $s))))
      (local.set $zv (f32x4.splat (local.get $fmn)))
      ;; row i lands in pair i/2 at byte 16·(i%2) of each 32-byte k-step
      (local.set $o (i32.add (local.get $out)
        (i32.add (i32.mul (i32.shr_u (local.get $i) (i32.const 1)) (i32.shl (local.get $k16) (i32.const 1)))
                 (i32.shl (i32.and (local.get $i) (i32.const 1)) (i32.const 4)))))
      (local.set $p (local.get $row))
      (block $d3 (loop $l3
        (br_if $d3 (i32.gt_u (i32.add (local.get $p) (i32.const 64)) (local.get $end)))
        ;; round(v) for v in [0, 127] as the low bits of v + 1.5·2²³ (ties to even, as
        ;; f32x4.nearest): two instructions where nearest + trunc_sat take eight on x64
        (local.set $a (i32x4.sub (f32x4.add (f32x4.mul (f32x4.sub (v128.load (local.get $p)) (local.get $zv)) (local.get $inv)) (v128.const f32x4 12582912 12582912 12582912 12582912)) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000)))
        (local.set $b (i32x4.sub (f32x4.add (f32x4.mul (f32x4.sub (v128.load offset=16 (local.get $p)) (local.get $zv)) (local.get $inv)) (v128.const f32x4 12582912 12582912 12582912 12582912)) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000)))
        (local.set $c (i32x4.sub (f32x4.add (f32x4.mul (f32x4.sub (v128.load offset=32 (local.get $p)) (local.get $zv)) (local.get $inv)) (v128.const f32x4 12582912 12582912 12582912 12582912)) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000)))
        (local.set $d (i32x4.sub (f32x4.add (f32x4.mul (f32x4.sub (v128.load offset=48 (local.get $p)) (local.get $zv)) (local.get $inv)) (v128.const f32x4 12582912 12582912 12582912 12582912)) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000)))
        (v128.store (local.get $o)
          (i8x16.narrow_i16x8_u (i16x8.narrow_i32x4_s (local.get $a) (local.get $b)) (i16x8.narrow_i32x4_s (local.get $c) (local.get $d))))
        (local.set $o (i32.add (local.get $o) (i32.const 32)))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br $l3)))
      ;; the ragged end, one value at a time (the chunk was zeroed)
      (local.set $d (v128.const i32x4 0 0 0 0))
      (block $d4 (loop $l4
        (br_if $d4 (i32.ge_u (local.get $p) (local.get $end)))
        (i32.store8 (local.get $o)
          (i32.trunc_sat_f32_s (f32.nearest (f32.mul (f32.sub (f32.load (local.get $p)) (local.get $fmn)) (f32x4.extract_lane 0 (local.get $inv))))))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $l4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $il))))

  ;; copy_f32 copies n floats.
  (func $copy_f32 (export "copy_f32") (param $dst i32) (param $src i32) (param $n i32)
    (memory.copy (local.get $dst) (local.get $src) (i32.shl (local.get $n) (i32.const 2))))

  ;; copy_rows copies rows rows of n floats, lds floats apart at src, to dst, packed.
  (func $copy_rows (export "copy_rows") (param $dst i32) (param $src i32) (param $rows i32) (param $n i32) (param $lds i32)
    (local $end i32)
    (local.set $n (i32.shl (local.get $n) (i32.const 2)))
    (local.set $lds (i32.shl (local.get $lds) (i32.const 2)))
    (local.set $end (i32.add (local.get $dst) (i32.mul (local.get $rows) (local.get $n))))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $dst) (local.get $end)))
      (memory.copy (local.get $dst) (local.get $src) (local.get $n))
      (local.set $dst (i32.add (local.get $dst) (local.get $n)))
      (local.set $src (i32.add (local.get $src) (local.get $lds)))
      (br $l))))

  ;; quant_rows_i8 quantizes rows rows of k floats (stride ldx floats; k a multiple of 16)
  ;; to int8, each row with its own scale and no offset: q = round(x/s), s = max|x|/127
  ;; (1 where the row is zero), stored in sc; row i's bytes at out + i·k. They are the
  ;; keys of attention's int8 scores (pack_w_q8 takes them as a product's weights).
  (func $quant_rows_i8 (export "quant_rows_i8")
    (param $x i32) (param $ldx i32) (param $rows i32) (param $k i32) (param $out i32) (param $sc i32)
    (local $i i32) (local $p i32) (local $end i32) (local $mx v128) (local $m f32) (local $s f32) (local $inv v128)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (local.set $ldx (i32.shl (local.get $ldx) (i32.const 2)))
    (local.set $i (i32.const 0))
    (block $id (loop $il
      (br_if $id (i32.ge_u (local.get $i) (local.get $rows)))
      (local.set $end (i32.add (local.get $x) (i32.shl (local.get $k) (i32.const 2))))
      (local.set $mx (v128.const i64x2 0 0))
      (local.set $p (local.get $x))
      (block $md (loop $ml
        (br_if $md (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $mx (f32x4.max (local.get $mx) (f32x4.abs (v128.load (local.get $p)))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $ml)))
      (local.set $m (f32.max (f32.max (f32x4.extract_lane 0 (local.get $mx)) (f32x4.extract_lane 1 (local.get $mx)))
                             (f32.max (f32x4.extract_lane 2 (local.get $mx)) (f32x4.extract_lane 3 (local.get $mx)))))
      (local.set $s (f32.div (local.get $m) (f32.const 127)))
      (if (f32.eq (local.get $s) (f32.const 0)) (then (local.set $s (f32.const 1))))
      (f32.store (i32.add (local.get $sc) (i32.shl (local.get $i) (i32.const 2))) (local.get $s))
      (local.set $inv (f32x4.splat (f32.div (f32.const 1) (local.get $s))))
      (local.set $p (local.get $x))
      (block $qd (loop $ql
        (br_if $qd (i32.ge_u (local.get $p) (local.get $end)))
        ;; round(v), |v| ≤ 127, as the low bits of v + 1.5·2²³ (ties to even, as quant_pack_a)
        (local.set $a (i32x4.sub (f32x4.add (f32x4.mul (v128.load (local.get $p)) (local.get $inv)) (v128.const f32x4 12582912 12582912 12582912 12582912)) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000)))
        (local.set $b (i32x4.sub (f32x4.add (f32x4.mul (v128.load offset=16 (local.get $p)) (local.get $inv)) (v128.const f32x4 12582912 12582912 12582912 12582912)) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000)))
        (local.set $c (i32x4.sub (f32x4.add (f32x4.mul (v128.load offset=32 (local.get $p)) (local.get $inv)) (v128.const f32x4 12582912 12582912 12582912 12582912)) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000)))
        (local.set $d (i32x4.sub (f32x4.add (f32x4.mul (v128.load offset=48 (local.get $p)) (local.get $inv)) (v128.const f32x4 12582912 12582912 12582912 12582912)) (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000)))
        (v128.store (local.get $out)
          (i8x16.narrow_i16x8_s (i16x8.narrow_i32x4_s (local.get $a) (local.get $b)) (i16x8.narrow_i32x4_s (local.get $c) (local.get $d))))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br $ql)))
      (local.set $x (i32.add (local.get $x) (local.get $ldx)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $il))))

  ;; pack_w_q8 packs n rows of int8 weights (k bytes each, stride ldw) into quads and
  ;; sums each row's weights into wsum (float32, the offset's correction).
  (func $pack_w_q8 (export "pack_w_q8")
    (param $w i32) (param $ldw i32) (param $n i32) (param $k i32) (param $out i32) (param $k16 i32) (param $wsum i32)
    (local $j i32) (local $p i32) (local $o i32) (local $src i32) (local $k16f i32) (local $sum v128) (local $q v128) (local $t i32)
    (if (i32.or (i32.ne (local.get $k) (local.get $k16)) (i32.and (local.get $n) (i32.const 3))) ;; zeros no row writes
      (then (memory.fill (local.get $out) (i32.const 0)
        (i32.mul (i32.and (i32.add (local.get $n) (i32.const 3)) (i32.const -4)) (local.get $k16)))))
    (local.set $k16f (i32.and (local.get $k) (i32.const -16)))
    (local.set $j (i32.const 0))
    (block $jd (loop $jl
      (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $o (i32.add (local.get $out)
        (i32.add (i32.mul (i32.shr_u (local.get $j) (i32.const 2)) (i32.shl (local.get $k16) (i32.const 2)))
                 (i32.shl (i32.and (local.get $j) (i32.const 3)) (i32.const 4)))))
      (local.set $src (i32.add (local.get $w) (i32.mul (local.get $j) (local.get $ldw))))
      (local.set $sum (v128.const i32x4 0 0 0 0))
      (local.set $p (i32.const 0))
      (block $pd (loop $pl
        (br_if $pd (i32.ge_u (local.get $p) (local.get $k16f)))
        (local.set $q (v128.load (i32.add (local.get $src) (local.get $p))))
        (v128.store (local.get $o) (local.get $q))
        ;; widened and summed by dots with ones (extadd_pairwise reloads a constant at each use)
        (local.set $sum (i32x4.add (local.get $sum)
          (i32x4.add (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $q)) (v128.const i16x8 1 1 1 1 1 1 1 1))
                     (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $q)) (v128.const i16x8 1 1 1 1 1 1 1 1)))))
        (local.set $o (i32.add (local.get $o) (i32.const 64)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $pl)))
      (local.set $t (i32.add
        (i32.add (i32x4.extract_lane 0 (local.get $sum)) (i32x4.extract_lane 1 (local.get $sum)))
        (i32.add (i32x4.extract_lane 2 (local.get $sum)) (i32x4.extract_lane 3 (local.get $sum)))))
      (block $td (loop $tl
        (br_if $td (i32.ge_u (local.get $p) (local.get $k)))
        (i32.store8 (local.get $o) (i32.load8_s (i32.add (local.get $src) (local.get $p))))
        (local.set $t (i32.add (local.get $t) (i32.load8_s (i32.add (local.get $src) (local.get $p)))))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $tl)))
      (f32.store (i32.add (local.get $wsum) (i32.shl (local.get $j) (i32.const 2))) (f32.convert_i32_s (local.get $t)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $jl))))

  ;; pack_w_q8_quads is pack_w_q8 for gemm_q8q7_quads (k = k16, a multiple of 16): the
  ;; same rows and sums, each 16-byte run of row j split into its four 4-byte quads,
  ;; quad q to lane j mod 4 of vector q of its quad of rows' 64 bytes. A function of its
  ;; own: pack_w_q8 with a flag choosing the stores ran 15–19% slower (bench-kernels-ab's
  ;; pack, 0.059 against 0.050–0.051 ns a value), and it packs every Linear's weights.
  (func $pack_w_q8_quads (export "pack_w_q8_quads")
    (param $w i32) (param $ldw i32) (param $n i32) (param $k i32) (param $out i32) (param $k16 i32) (param $wsum i32)
    (local $j i32) (local $p i32) (local $o i32) (local $src i32) (local $sum v128) (local $q v128)
    (if (i32.and (local.get $n) (i32.const 3)) ;; zeros no row writes
      (then (memory.fill (local.get $out) (i32.const 0)
        (i32.mul (i32.and (i32.add (local.get $n) (i32.const 3)) (i32.const -4)) (local.get $k16)))))
    (local.set $j (i32.const 0))
    (block $jd (loop $jl
      (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
      (local.set $o (i32.add (local.get $out)
        (i32.add (i32.mul (i32.shr_u (local.get $j) (i32.const 2)) (i32.shl (local.get $k16) (i32.const 2)))
                 (i32.shl (i32.and (local.get $j) (i32.const 3)) (i32.const 2)))))
      (local.set $src (i32.add (local.get $w) (i32.mul (local.get $j) (local.get $ldw))))
      (local.set $sum (v128.const i32x4 0 0 0 0))
      (local.set $p (i32.const 0))
      (block $pd (loop $pl
        (br_if $pd (i32.ge_u (local.get $p) (local.get $k)))
        (local.set $q (v128.load (i32.add (local.get $src) (local.get $p))))
        (v128.store32_lane 0 (local.get $o) (local.get $q))
        (v128.store32_lane offset=16 1 (local.get $o) (local.get $q))
        (v128.store32_lane offset=32 2 (local.get $o) (local.get $q))
        (v128.store32_lane offset=48 3 (local.get $o) (local.get $q))
        (local.set $sum (i32x4.add (local.get $sum)
          (i32x4.add (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $q)) (v128.const i16x8 1 1 1 1 1 1 1 1))
                     (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $q)) (v128.const i16x8 1 1 1 1 1 1 1 1)))))
        (local.set $o (i32.add (local.get $o) (i32.const 64)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $pl)))
      (f32.store (i32.add (local.get $wsum) (i32.shl (local.get $j) (i32.const 2)))
        (f32.convert_i32_s (i32.add
          (i32.add (i32x4.extract_lane 0 (local.get $sum)) (i32x4.extract_lane 1 (local.get $sum)))
          (i32.add (i32x4.extract_lane 2 (local.get $sum)) (i32x4.extract_lane 3 (local.get $sum))))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $jl))))

  ;; add_bias adds the n floats at b to each of rows rows of n floats at y (n a multiple of
  ;; 4): a Linear layer's epilogue.
  (func $add_bias (export "add_bias") (param $y i32) (param $rows i32) (param $n i32) (param $b i32)
    (local $end i32) (local $p i32) (local $q i32) (local $rowEnd i32)
    (local.set $n (i32.shl (local.get $n) (i32.const 2)))
    (local.set $end (i32.add (local.get $y) (i32.mul (local.get $rows) (local.get $n))))
    (block $rd (loop $rl
      (br_if $rd (i32.ge_u (local.get $y) (local.get $end)))
      (local.set $rowEnd (i32.add (local.get $y) (local.get $n)))
      (local.set $p (local.get $y))
      (local.set $q (local.get $b))
      (block $cd (loop $cl
        (br_if $cd (i32.ge_u (local.get $p) (local.get $rowEnd)))
        (v128.store (local.get $p) (f32x4.add (v128.load (local.get $p)) (v128.load (local.get $q))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $q (i32.add (local.get $q) (i32.const 16)))
        (br $cl)))
      (local.set $y (local.get $rowEnd))
      (br $rl))))

  ;; attn_qk_row and attn_pv_row are attention for one query row (a decoder step) over
  ;; every head at once, on the keys and values where they lie (row j at k + j·ld floats,
  ;; the KV cache's layout; heads·dh of it read) instead of packing them:
  ;; out[h·ldo + j] = q_h·k_j,h for j < nk (ldo ≥ nk rounded up to 4: four keys are
  ;; stored at a time); then, with p the rows softmax_rows wrote (ldp apart),
  ;; out[h·dh + c] = Σ_j p[h·ldp + j]·v_j,h[c]. dh is a multiple of 4. Each row of the
  ;; cache is read whole, once: a head at a time read 256 bytes of each 3 KB row in a
  ;; sweep of its own, twelve sweeps a layer each way, which cost a decoder step 8 ms of
  ;; its 20 (the cache of six layers, 34 MB, comes from memory).
  (func $attn_qk_row (export "attn_qk_row")
    (param $q i32) (param $k i32) (param $ld i32) (param $nk i32) (param $heads i32) (param $dh i32)
    (param $out i32) (param $ldo i32)
    (local $j i32) (local $h i32) (local $t i32) (local $end i32) (local $qv v128)
    (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $r3 i32) (local $last i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $ld (i32.shl (local.get $ld) (i32.const 2)))
    (local.set $last (i32.add (local.get $k) (i32.mul (i32.sub (local.get $nk) (i32.const 1)) (local.get $ld))))
    (local.set $j (i32.const 0))
    (block $jd (loop $jl
      (br_if $jd (i32.ge_u (local.get $j) (local.get $nk)))
      ;; four keys at once, four independent sums; past nk the last key again (its scores
      ;; land past nk, where softmax_rows writes zeros)
      (local.set $r0 (i32.add (local.get $k) (i32.mul (local.get $j) (local.get $ld))))
      (local.set $r1 (call $minu (i32.add (local.get $r0) (local.get $ld)) (local.get $last)))
      (local.set $r2 (call $minu (i32.add (local.get $r1) (local.get $ld)) (local.get $last)))
      (local.set $r3 (call $minu (i32.add (local.get $r2) (local.get $ld)) (local.get $last)))
      (local.set $h (i32.const 0))
      (block $hd (loop $hl
        (br_if $hd (i32.ge_u (local.get $h) (local.get $heads)))
        (local.set $a0 (v128.const i64x2 0 0)) (local.set $a1 (v128.const i64x2 0 0))
        (local.set $a2 (v128.const i64x2 0 0)) (local.set $a3 (v128.const i64x2 0 0))
        (local.set $t (i32.shl (i32.mul (local.get $h) (local.get $dh)) (i32.const 2)))
        (local.set $end (i32.add (local.get $t) (i32.shl (local.get $dh) (i32.const 2))))
        (block $td (loop $tl
          (br_if $td (i32.ge_u (local.get $t) (local.get $end)))
          (local.set $qv (v128.load (i32.add (local.get $q) (local.get $t))))
          (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $qv) (v128.load (i32.add (local.get $r0) (local.get $t)))))) ;; madd
          (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $qv) (v128.load (i32.add (local.get $r1) (local.get $t)))))) ;; madd
          (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $qv) (v128.load (i32.add (local.get $r2) (local.get $t)))))) ;; madd
          (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $qv) (v128.load (i32.add (local.get $r3) (local.get $t)))))) ;; madd
          (local.set $t (i32.add (local.get $t) (i32.const 16)))
          (br $tl)))
        (v128.store (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $h) (local.get $ldo)) (local.get $j)) (i32.const 2)))
          (call $reduce4 (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br $hl)))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $jl))))

  ;; minu is the smaller of two u32s.
  (func $minu (param $a i32) (param $b i32) (result i32)
    (select (local.get $a) (local.get $b) (i32.lt_u (local.get $a) (local.get $b))))

  (func $attn_pv_row (export "attn_pv_row")
    (param $p i32) (param $ldp i32) (param $nk i32) (param $v i32) (param $ld i32) (param $heads i32) (param $dh i32)
    (param $out i32)
    (local $j i32) (local $h i32) (local $t i32) (local $end i32) (local $row i32) (local $w v128) (local $o i32) (local $acc v128)
    (local.set $ld (i32.shl (local.get $ld) (i32.const 2)))
    (local.set $ldp (i32.shl (local.get $ldp) (i32.const 2)))
    (local.set $end (i32.shl (i32.mul (local.get $heads) (local.get $dh)) (i32.const 2)))
    (local.set $t (i32.const 0))
    (block $zd (loop $zl ;; the sums start at zero
      (br_if $zd (i32.ge_u (local.get $t) (local.get $end)))
      (v128.store (i32.add (local.get $out) (local.get $t)) (v128.const i64x2 0 0))
      (local.set $t (i32.add (local.get $t) (i32.const 16)))
      (br $zl)))
    (local.set $j (i32.const 0))
    (block $jd (loop $jl
      (br_if $jd (i32.ge_u (local.get $j) (local.get $nk)))
      (local.set $row (i32.add (local.get $v) (i32.mul (local.get $j) (local.get $ld))))
      (local.set $h (i32.const 0))
      (local.set $t (i32.const 0))
      (block $hd (loop $hl
        (br_if $hd (i32.ge_u (local.get $h) (local.get $heads)))
        (local.set $w (v128.load32_splat (i32.add (i32.add (local.get $p) (i32.mul (local.get $h) (local.get $ldp))) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $end (i32.add (local.get $t) (i32.shl (local.get $dh) (i32.const 2))))
        (block $td (loop $tl
          (br_if $td (i32.ge_u (local.get $t) (local.get $end)))
          (local.set $o (i32.add (local.get $out) (local.get $t)))
          (local.set $acc (v128.load (local.get $o)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $w) (v128.load (i32.add (local.get $row) (local.get $t)))))) ;; madd
          (v128.store (local.get $o) (local.get $acc))
          (local.set $t (i32.add (local.get $t) (i32.const 16)))
          (br $tl)))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br $hl)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $jl))))

  ;; resample_row_rgba is the horizontal pass of Pillow's resampling over one row of RGBA
  ;; pixels (imageproc.RowResampler): output pixel xx sums bounds[2xx+1] taps
  ;; kk[xx·ksize…] over the pixels from bounds[2xx] (alpha rides along, unused), in 22-bit
  ;; fixed point rounded and clipped as Pillow does, and stores R, G, B at dst + 3·xx: a
  ;; fourth byte is written too and overwritten by the next pixel (dst has one spare).
  (func $resample_row_rgba (export "resample_row_rgba")
    (param $src i32) (param $bounds i32) (param $kk i32) (param $ksize i32) (param $cw i32) (param $dst i32)
    (local $xx i32) (local $b i32) (local $p i32) (local $k i32) (local $end i32) (local $acc v128)
    (local.set $xx (i32.const 0))
    (block $xd (loop $xl
      (br_if $xd (i32.ge_u (local.get $xx) (local.get $cw)))
      (local.set $b (i32.add (local.get $bounds) (i32.shl (local.get $xx) (i32.const 3))))
      (local.set $p (i32.add (local.get $src) (i32.shl (i32.load (local.get $b)) (i32.const 2))))
      (local.set $k (i32.add (local.get $kk) (i32.shl (i32.mul (local.get $xx) (local.get $ksize)) (i32.const 2))))
      (local.set $end (i32.add (local.get $k) (i32.shl (i32.load offset=4 (local.get $b)) (i32.const 2))))
      (local.set $acc (v128.const i32x4 0x200000 0x200000 0x200000 0x200000))
      (block $td (loop $tl
        (br_if $td (i32.ge_u (local.get $k) (local.get $end)))
        (local.set $acc (i32x4.add (local.get $acc)
          (i32x4.mul (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u (v128.load32_zero (local.get $p))))
                     (i32x4.splat (i32.load (local.get $k))))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (local.set $k (i32.add (local.get $k) (i32.const 4)))
        (br $tl)))
      (local.set $acc (i32x4.shr_s (local.get $acc) (i32.const 22)))
      (local.set $acc (i16x8.narrow_i32x4_s (local.get $acc) (local.get $acc)))
      (i32.store (i32.add (local.get $dst) (i32.mul (local.get $xx) (i32.const 3)))
        (i32x4.extract_lane 0 (i8x16.narrow_i16x8_u (local.get $acc) (local.get $acc))))
      (local.set $xx (i32.add (local.get $xx) (i32.const 1)))
      (br $xl))))

  (;RELAXED
  ;; reduce4i is reduce4 for i32 lanes.
  (func $reduce4i (param $a v128) (param $b v128) (param $c v128) (param $d v128) (result v128)
    (local $ab v128) (local $cd v128) (local $s v128)
    ;; sum4 i32x4 $s $a $b $c $d $ab $cd
    (local.get $s))

  ;; gemm_q8q7 computes y[i][j] = sw[j]·(sx[i]·Σ_p x̂[i][p]·ŵ[j][p] + zx[i]·wsum[j]) for
  ;; i < m, j < n over k16 packed columns (see the layouts above); ldy counts floats.
  ;; sw and wsum are read four at a time: the caller pads them to a multiple of 4.
  ;;
  ;; Where the CPU has no single instruction for the fused dot (x86 without AVX-VNNI: V8
  ;; spends five, rebuilding a constant each time), the same kernel runs faster as an
  ;; i16x8 dot, widened pairwise and added: the relaxed build also writes
  ;; gemm_q8q7_split, this function with its dots (the lines marked "dot") so rewritten,
  ;; and the worker times both at load (simd.ChooseDot). 7-bit activations keep each i16
  ;; pair sum within 2·127·128 < 2¹⁵, so both give the same integers. The widening is a dot
  ;; with ones, not extadd_pairwise: V8 gives that one a constant it reloads through a
  ;; scalar register at every use (two loads a dot), where a v128.const in a loop
  ;; becomes a register (see hoistConstants in hoist.go): pmaddubsw, pmaddwd, paddd on
  ;; x64. Each weight vector is loaded just before its two dots, so that the 8 sums,
  ;; the activations, one weight vector, the ones and a temporary fit in the 15 vector
  ;; registers V8 allocates. The two changes took the split form from 50–54 to 62–75
  ;; GFLOP/s in Chromium on an AMD EPYC (Zen 3).
  (func $gemm_q8q7 (export "gemm_q8q7")
    (param $m i32) (param $n i32) (param $k16 i32) (param $xp i32) (param $wp i32)
    (param $sx i32) (param $zx i32) (param $sw i32) (param $wsum i32) (param $y i32) (param $ldy i32)
    (local $i i32) (local $j i32) (local $pa i32) (local $pb i32) (local $end i32) (local $co i32)
    (local $x0 v128) (local $x1 v128) (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128)
    (local $c00 v128) (local $c01 v128) (local $c02 v128) (local $c03 v128)
    (local $c10 v128) (local $c11 v128) (local $c12 v128) (local $c13 v128)
    (local $s4 v128) (local $z4 v128) (local $h0 v128) (local $h1 v128) (local $sum0 v128) (local $sum1 v128)
    (local.set $ldy (i32.shl (local.get $ldy) (i32.const 2)))
    (local.set $i (i32.const 0))
    (block $id (loop $il
      (br_if $id (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $j (i32.const 0))
      (block $jd (loop $jl
        (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $pa (i32.add (local.get $xp) (i32.mul (i32.shr_u (local.get $i) (i32.const 1)) (i32.shl (local.get $k16) (i32.const 1)))))
        (local.set $pb (i32.add (local.get $wp) (i32.mul (i32.shr_u (local.get $j) (i32.const 2)) (i32.shl (local.get $k16) (i32.const 2)))))
        (local.set $end (i32.add (local.get $pa) (i32.shl (local.get $k16) (i32.const 1))))
        (local.set $c00 (v128.const i64x2 0 0)) (local.set $c01 (v128.const i64x2 0 0))
        (local.set $c02 (v128.const i64x2 0 0)) (local.set $c03 (v128.const i64x2 0 0))
        (local.set $c10 (v128.const i64x2 0 0)) (local.set $c11 (v128.const i64x2 0 0))
        (local.set $c12 (v128.const i64x2 0 0)) (local.set $c13 (v128.const i64x2 0 0))
        (block $kd (loop $kl
          (br_if $kd (i32.ge_u (local.get $pa) (local.get $end)))
          (local.set $x0 (v128.load (local.get $pa)))
          (local.set $x1 (v128.load offset=16 (local.get $pa)))
          (local.set $w0 (v128.load (local.get $pb)))
          (local.set $c00 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x0) (local.get $c00))) ;; dot
          (local.set $c10 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x1) (local.get $c10))) ;; dot
          (local.set $w1 (v128.load offset=16 (local.get $pb)))
          (local.set $c01 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x0) (local.get $c01))) ;; dot
          (local.set $c11 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x1) (local.get $c11))) ;; dot
          (local.set $w2 (v128.load offset=32 (local.get $pb)))
          (local.set $c02 (i32x4.dot_i8x16_i7x16_add_s (local.get $w2) (local.get $x0) (local.get $c02))) ;; dot
          (local.set $c12 (i32x4.dot_i8x16_i7x16_add_s (local.get $w2) (local.get $x1) (local.get $c12))) ;; dot
          (local.set $w3 (v128.load offset=48 (local.get $pb)))
          (local.set $c03 (i32x4.dot_i8x16_i7x16_add_s (local.get $w3) (local.get $x0) (local.get $c03))) ;; dot
          (local.set $c13 (i32x4.dot_i8x16_i7x16_add_s (local.get $w3) (local.get $x1) (local.get $c13))) ;; dot
          (local.set $pa (i32.add (local.get $pa) (i32.const 32)))
          (local.set $pb (i32.add (local.get $pb) (i32.const 64)))
          (br $kl)))
        (local.set $s4 (v128.load (i32.add (local.get $sw) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $z4 (v128.load (i32.add (local.get $wsum) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $co (i32.add (local.get $y) (i32.add (i32.mul (local.get $i) (local.get $ldy)) (i32.shl (local.get $j) (i32.const 2)))))
        (if (i32.and (i32.ge_u (i32.sub (local.get $n) (local.get $j)) (i32.const 4)) (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $m)))
          (then
            ;; a whole tile, its sums and scales written out: calls (reduce4i, scale_q)
            ;; spill every v128 register around them, 5–10% of the product at k = 1024
            ;; sum4 i32x4 $sum0 $c00 $c01 $c02 $c03 $h0 $h1
            ;; sum4 i32x4 $sum1 $c10 $c11 $c12 $c13 $h0 $h1
            (v128.store (local.get $co) (f32x4.mul (local.get $s4)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $sum0)) (v128.load32_splat (i32.add (local.get $sx) (i32.shl (local.get $i) (i32.const 2)))))
                         (f32x4.mul (local.get $z4) (v128.load32_splat (i32.add (local.get $zx) (i32.shl (local.get $i) (i32.const 2))))))))
            (v128.store (i32.add (local.get $co) (local.get $ldy)) (f32x4.mul (local.get $s4)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $sum1)) (v128.load32_splat offset=4 (i32.add (local.get $sx) (i32.shl (local.get $i) (i32.const 2)))))
                         (f32x4.mul (local.get $z4) (v128.load32_splat offset=4 (i32.add (local.get $zx) (i32.shl (local.get $i) (i32.const 2)))))))))
          (else
        (call $store_row (local.get $co)
          (call $scale_q (call $reduce4i (local.get $c00) (local.get $c01) (local.get $c02) (local.get $c03))
            (local.get $s4) (local.get $z4) (i32.add (local.get $sx) (i32.shl (local.get $i) (i32.const 2))) (i32.add (local.get $zx) (i32.shl (local.get $i) (i32.const 2))))
          (i32.sub (local.get $n) (local.get $j)) (i32.const 0))
        (if (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $m))
          (then
            (call $store_row (i32.add (local.get $co) (local.get $ldy))
              (call $scale_q (call $reduce4i (local.get $c10) (local.get $c11) (local.get $c12) (local.get $c13))
                (local.get $s4) (local.get $z4) (i32.add (local.get $sx) (i32.shl (i32.add (local.get $i) (i32.const 1)) (i32.const 2)))
                (i32.add (local.get $zx) (i32.shl (i32.add (local.get $i) (i32.const 1)) (i32.const 2))))
              (i32.sub (local.get $n) (local.get $j)) (i32.const 0))))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $jl)))
      (local.set $i (i32.add (local.get $i) (i32.const 2)))
      (br $il))))

  ;; scale_q turns four integer dots into outputs: sw·(sx·dot + zx·wsum).
  (func $scale_q (param $dot v128) (param $sw v128) (param $wsum v128) (param $psx i32) (param $pzx i32) (result v128)
    (f32x4.mul (local.get $sw)
      (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $dot)) (v128.load32_splat (local.get $psx)))
                 (f32x4.mul (local.get $wsum) (v128.load32_splat (local.get $pzx))))))

  ;; gemm_q8q7_quads is gemm_q8q7 over weights packed by pack_w_q8_quads: the same
  ;; integer dots, scales and float steps, so the same floats. Each 16 bytes of the
  ;; weights hold one 4-byte k-quad of four weight rows, so a dot of them with one
  ;; activation row's quad in every lane leaves each output's partial sum in a lane of its
  ;; own: no horizontal sums end a tile. At attention's k = 64 (the keys as weights, 32
  ;; queries as rows) the split form ran at 92 GFLOP/s, gemm_q8q7_split at 70 (Zen 4,
  ;; make bench-kernels-ab), whose tiles end in sums of four lanes. Four rows
  ;; (two of quant_pack_a's pairs) × eight columns (two quads of rows) a tile: eight
  ;; accumulators, two weight vectors and a broadcast quad (and, split, the ones and a
  ;; temporary) in V8's 15 vector registers. k16 a multiple of 16; sw and wsum are read
  ;; four at a time, padded by the caller to a multiple of 4.
  (func $gemm_q8q7_quads (export "gemm_q8q7_quads")
    (param $m i32) (param $n i32) (param $k16 i32) (param $xp i32) (param $wp i32)
    (param $sx i32) (param $zx i32) (param $sw i32) (param $wsum i32) (param $y i32) (param $ldy i32)
    (local $i i32) (local $j i32) (local $pa i32) (local $pa1 i32) (local $pb i32) (local $pb1 i32) (local $end i32)
    (local $co i32) (local $rows i32) (local $cols i32) (local $psx i32) (local $pzx i32)
    (local $x v128) (local $w0 v128) (local $w1 v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $s0 v128) (local $s1 v128) (local $z0 v128) (local $z1 v128)
    (local.set $ldy (i32.shl (local.get $ldy) (i32.const 2)))
    (local.set $i (i32.const 0))
    (block $id (loop $il
      (br_if $id (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $rows (i32.sub (local.get $m) (local.get $i)))
      (local.set $j (i32.const 0))
      (block $jd (loop $jl
        (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $cols (i32.sub (local.get $n) (local.get $j)))
        ;; the tile's second pair and second quad of rows: the first again where the tile
        ;; has no more (its sums are not stored)
        (local.set $pa (i32.add (local.get $xp) (i32.mul (i32.shr_u (local.get $i) (i32.const 1)) (i32.shl (local.get $k16) (i32.const 1)))))
        (local.set $pa1 (select (i32.add (local.get $pa) (i32.shl (local.get $k16) (i32.const 1))) (local.get $pa) (i32.gt_u (local.get $rows) (i32.const 2))))
        (local.set $pb (i32.add (local.get $wp) (i32.mul (i32.shr_u (local.get $j) (i32.const 2)) (i32.shl (local.get $k16) (i32.const 2)))))
        (local.set $pb1 (select (i32.add (local.get $pb) (i32.shl (local.get $k16) (i32.const 2))) (local.get $pb) (i32.gt_u (local.get $cols) (i32.const 4))))
        (local.set $end (i32.add (local.get $pa) (i32.shl (local.get $k16) (i32.const 1))))
        (local.set $c00 (v128.const i64x2 0 0)) (local.set $c01 (v128.const i64x2 0 0))
        (local.set $c10 (v128.const i64x2 0 0)) (local.set $c11 (v128.const i64x2 0 0))
        (local.set $c20 (v128.const i64x2 0 0)) (local.set $c21 (v128.const i64x2 0 0))
        (local.set $c30 (v128.const i64x2 0 0)) (local.set $c31 (v128.const i64x2 0 0))
        (block $kd (loop $kl
          (br_if $kd (i32.ge_u (local.get $pa) (local.get $end)))
          (local.set $w0 (v128.load offset=0 (local.get $pb)))
          (local.set $w1 (v128.load offset=0 (local.get $pb1)))
          (local.set $x (v128.load32_splat offset=0 (local.get $pa)))
          (local.set $c00 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c00))) ;; dot
          (local.set $c01 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c01))) ;; dot
          (local.set $x (v128.load32_splat offset=16 (local.get $pa)))
          (local.set $c10 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c10))) ;; dot
          (local.set $c11 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c11))) ;; dot
          (local.set $x (v128.load32_splat offset=0 (local.get $pa1)))
          (local.set $c20 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c20))) ;; dot
          (local.set $c21 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c21))) ;; dot
          (local.set $x (v128.load32_splat offset=16 (local.get $pa1)))
          (local.set $c30 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c30))) ;; dot
          (local.set $c31 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c31))) ;; dot
          (local.set $w0 (v128.load offset=16 (local.get $pb)))
          (local.set $w1 (v128.load offset=16 (local.get $pb1)))
          (local.set $x (v128.load32_splat offset=4 (local.get $pa)))
          (local.set $c00 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c00))) ;; dot
          (local.set $c01 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c01))) ;; dot
          (local.set $x (v128.load32_splat offset=20 (local.get $pa)))
          (local.set $c10 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c10))) ;; dot
          (local.set $c11 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c11))) ;; dot
          (local.set $x (v128.load32_splat offset=4 (local.get $pa1)))
          (local.set $c20 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c20))) ;; dot
          (local.set $c21 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c21))) ;; dot
          (local.set $x (v128.load32_splat offset=20 (local.get $pa1)))
          (local.set $c30 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c30))) ;; dot
          (local.set $c31 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c31))) ;; dot
          (local.set $w0 (v128.load offset=32 (local.get $pb)))
          (local.set $w1 (v128.load offset=32 (local.get $pb1)))
          (local.set $x (v128.load32_splat offset=8 (local.get $pa)))
          (local.set $c00 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c00))) ;; dot
          (local.set $c01 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c01))) ;; dot
          (local.set $x (v128.load32_splat offset=24 (local.get $pa)))
          (local.set $c10 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c10))) ;; dot
          (local.set $c11 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c11))) ;; dot
          (local.set $x (v128.load32_splat offset=8 (local.get $pa1)))
          (local.set $c20 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c20))) ;; dot
          (local.set $c21 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c21))) ;; dot
          (local.set $x (v128.load32_splat offset=24 (local.get $pa1)))
          (local.set $c30 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c30))) ;; dot
          (local.set $c31 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c31))) ;; dot
          (local.set $w0 (v128.load offset=48 (local.get $pb)))
          (local.set $w1 (v128.load offset=48 (local.get $pb1)))
          (local.set $x (v128.load32_splat offset=12 (local.get $pa)))
          (local.set $c00 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c00))) ;; dot
          (local.set $c01 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c01))) ;; dot
          (local.set $x (v128.load32_splat offset=28 (local.get $pa)))
          (local.set $c10 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c10))) ;; dot
          (local.set $c11 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c11))) ;; dot
          (local.set $x (v128.load32_splat offset=12 (local.get $pa1)))
          (local.set $c20 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c20))) ;; dot
          (local.set $c21 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c21))) ;; dot
          (local.set $x (v128.load32_splat offset=28 (local.get $pa1)))
          (local.set $c30 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c30))) ;; dot
          (local.set $c31 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c31))) ;; dot
          (local.set $pa (i32.add (local.get $pa) (i32.const 32)))
          (local.set $pa1 (i32.add (local.get $pa1) (i32.const 32)))
          (local.set $pb (i32.add (local.get $pb) (i32.const 64)))
          (local.set $pb1 (i32.add (local.get $pb1) (i32.const 64)))
          (br $kl)))
        (local.set $s0 (v128.load (i32.add (local.get $sw) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $z0 (v128.load (i32.add (local.get $wsum) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $s1 (local.get $s0))
        (local.set $z1 (local.get $z0))
        (if (i32.gt_u (local.get $cols) (i32.const 4))
          (then
            (local.set $s1 (v128.load offset=16 (i32.add (local.get $sw) (i32.shl (local.get $j) (i32.const 2)))))
            (local.set $z1 (v128.load offset=16 (i32.add (local.get $wsum) (i32.shl (local.get $j) (i32.const 2)))))))
        (local.set $co (i32.add (local.get $y) (i32.add (i32.mul (local.get $i) (local.get $ldy)) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $psx (i32.add (local.get $sx) (i32.shl (local.get $i) (i32.const 2))))
        (local.set $pzx (i32.add (local.get $zx) (i32.shl (local.get $i) (i32.const 2))))
        (if (i32.and (i32.ge_u (local.get $cols) (i32.const 8)) (i32.ge_u (local.get $rows) (i32.const 4)))
          (then
            ;; a whole tile, its scales written out (a call spills every v128 register)
            (v128.store offset=0 (local.get $co) (f32x4.mul (local.get $s0)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c00)) (v128.load32_splat offset=0 (local.get $psx)))
                         (f32x4.mul (local.get $z0) (v128.load32_splat offset=0 (local.get $pzx))))))
            (v128.store offset=16 (local.get $co) (f32x4.mul (local.get $s1)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c01)) (v128.load32_splat offset=0 (local.get $psx)))
                         (f32x4.mul (local.get $z1) (v128.load32_splat offset=0 (local.get $pzx))))))
            (v128.store offset=0 (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 1))) (f32x4.mul (local.get $s0)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c10)) (v128.load32_splat offset=4 (local.get $psx)))
                         (f32x4.mul (local.get $z0) (v128.load32_splat offset=4 (local.get $pzx))))))
            (v128.store offset=16 (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 1))) (f32x4.mul (local.get $s1)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c11)) (v128.load32_splat offset=4 (local.get $psx)))
                         (f32x4.mul (local.get $z1) (v128.load32_splat offset=4 (local.get $pzx))))))
            (v128.store offset=0 (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 2))) (f32x4.mul (local.get $s0)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c20)) (v128.load32_splat offset=8 (local.get $psx)))
                         (f32x4.mul (local.get $z0) (v128.load32_splat offset=8 (local.get $pzx))))))
            (v128.store offset=16 (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 2))) (f32x4.mul (local.get $s1)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c21)) (v128.load32_splat offset=8 (local.get $psx)))
                         (f32x4.mul (local.get $z1) (v128.load32_splat offset=8 (local.get $pzx))))))
            (v128.store offset=0 (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 3))) (f32x4.mul (local.get $s0)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c30)) (v128.load32_splat offset=12 (local.get $psx)))
                         (f32x4.mul (local.get $z0) (v128.load32_splat offset=12 (local.get $pzx))))))
            (v128.store offset=16 (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 3))) (f32x4.mul (local.get $s1)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c31)) (v128.load32_splat offset=12 (local.get $psx)))
                         (f32x4.mul (local.get $z1) (v128.load32_splat offset=12 (local.get $pzx)))))))
          (else ;; a last tile's rows and columns, as far as they go
            (call $store_quads_row (local.get $co) (local.get $c00) (local.get $c01) (local.get $s0) (local.get $s1) (local.get $z0) (local.get $z1)
              (local.get $psx) (local.get $pzx) (local.get $cols))
            (if (i32.gt_u (local.get $rows) (i32.const 1))
              (then (call $store_quads_row (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 1))) (local.get $c10) (local.get $c11) (local.get $s0) (local.get $s1) (local.get $z0) (local.get $z1)
                (i32.add (local.get $psx) (i32.const 4)) (i32.add (local.get $pzx) (i32.const 4)) (local.get $cols))))
            (if (i32.gt_u (local.get $rows) (i32.const 2))
              (then (call $store_quads_row (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 2))) (local.get $c20) (local.get $c21) (local.get $s0) (local.get $s1) (local.get $z0) (local.get $z1)
                (i32.add (local.get $psx) (i32.const 8)) (i32.add (local.get $pzx) (i32.const 8)) (local.get $cols))))
            (if (i32.gt_u (local.get $rows) (i32.const 3))
              (then (call $store_quads_row (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 3))) (local.get $c30) (local.get $c31) (local.get $s0) (local.get $s1) (local.get $z0) (local.get $z1)
                (i32.add (local.get $psx) (i32.const 12)) (i32.add (local.get $pzx) (i32.const 12)) (local.get $cols))))))
        (local.set $j (i32.add (local.get $j) (i32.const 8)))
        (br $jl)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $il))))

  ;; store_quads_row writes one row of a gemm_q8q7_quads tile that the matrix ends in:
  ;; its first min(cols, 8) outputs, the sums c0 (columns 0–3) and c1 (4–7) scaled as
  ;; scale_q does.
  (func $store_quads_row (param $co i32) (param $c0 v128) (param $c1 v128) (param $s0 v128) (param $s1 v128)
    (param $z0 v128) (param $z1 v128) (param $psx i32) (param $pzx i32) (param $cols i32)
    (call $store_row (local.get $co) (call $scale_q (local.get $c0) (local.get $s0) (local.get $z0) (local.get $psx) (local.get $pzx))
      (local.get $cols) (i32.const 0))
    (if (i32.gt_u (local.get $cols) (i32.const 4))
      (then (call $store_row (i32.add (local.get $co) (i32.const 16)) (call $scale_q (local.get $c1) (local.get $s1) (local.get $z1) (local.get $psx) (local.get $pzx))
        (i32.sub (local.get $cols) (i32.const 4)) (i32.const 0)))))

  ;; gemm_q8q7_quads6 is gemm_q8q7_quads with six rows a tile (three of quant_pack_a's
  ;; pairs) × eight columns: twelve accumulators, so that twelve fused dots are in flight
  ;; where eight were, more than the dot's latency (5 cycles) times its rate (2 a cycle)
  ;; asks; two weight vectors and a broadcast quad fill V8's 15 vector registers, so there
  ;; is no split form (its dot needs two more). The same integer dots and float steps as
  ;; gemm_q8q7_quads: the same floats.
  (func $gemm_q8q7_quads6 (export "gemm_q8q7_quads6")
    (param $m i32) (param $n i32) (param $k16 i32) (param $xp i32) (param $wp i32)
    (param $sx i32) (param $zx i32) (param $sw i32) (param $wsum i32) (param $y i32) (param $ldy i32)
    (local $i i32) (local $j i32) (local $pa i32) (local $pa1 i32) (local $pa2 i32) (local $pb i32) (local $pb1 i32) (local $end i32)
    (local $co i32) (local $rows i32) (local $cols i32) (local $psx i32) (local $pzx i32)
    (local $x v128) (local $w0 v128) (local $w1 v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128) (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128) (local $c40 v128) (local $c41 v128) (local $c50 v128) (local $c51 v128)
    (local $s0 v128) (local $s1 v128) (local $z0 v128) (local $z1 v128)
    (local.set $ldy (i32.shl (local.get $ldy) (i32.const 2)))
    (local.set $i (i32.const 0))
    (block $id (loop $il
      (br_if $id (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $rows (i32.sub (local.get $m) (local.get $i)))
      (local.set $j (i32.const 0))
      (block $jd (loop $jl
        (br_if $jd (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $cols (i32.sub (local.get $n) (local.get $j)))
        ;; the tile's later pairs and second quad of rows: the first again where the tile
        ;; has no more (their sums are not stored)
        (local.set $pa (i32.add (local.get $xp) (i32.mul (i32.shr_u (local.get $i) (i32.const 1)) (i32.shl (local.get $k16) (i32.const 1)))))
        (local.set $pa1 (select (i32.add (local.get $pa) (i32.shl (local.get $k16) (i32.const 1))) (local.get $pa) (i32.gt_u (local.get $rows) (i32.const 2))))
        (local.set $pa2 (select (i32.add (local.get $pa) (i32.shl (local.get $k16) (i32.const 2))) (local.get $pa) (i32.gt_u (local.get $rows) (i32.const 4))))
        (local.set $pb (i32.add (local.get $wp) (i32.mul (i32.shr_u (local.get $j) (i32.const 2)) (i32.shl (local.get $k16) (i32.const 2)))))
        (local.set $pb1 (select (i32.add (local.get $pb) (i32.shl (local.get $k16) (i32.const 2))) (local.get $pb) (i32.gt_u (local.get $cols) (i32.const 4))))
        (local.set $end (i32.add (local.get $pa) (i32.shl (local.get $k16) (i32.const 1))))
        (local.set $c00 (v128.const i64x2 0 0)) (local.set $c01 (v128.const i64x2 0 0))
        (local.set $c10 (v128.const i64x2 0 0)) (local.set $c11 (v128.const i64x2 0 0))
        (local.set $c20 (v128.const i64x2 0 0)) (local.set $c21 (v128.const i64x2 0 0))
        (local.set $c30 (v128.const i64x2 0 0)) (local.set $c31 (v128.const i64x2 0 0))
        (local.set $c40 (v128.const i64x2 0 0)) (local.set $c41 (v128.const i64x2 0 0))
        (local.set $c50 (v128.const i64x2 0 0)) (local.set $c51 (v128.const i64x2 0 0))
        (block $kd (loop $kl
          (br_if $kd (i32.ge_u (local.get $pa) (local.get $end)))
          (local.set $w0 (v128.load offset=0 (local.get $pb)))
          (local.set $w1 (v128.load offset=0 (local.get $pb1)))
          (local.set $x (v128.load32_splat offset=0 (local.get $pa)))
          (local.set $c00 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c00)))
          (local.set $c01 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c01)))
          (local.set $x (v128.load32_splat offset=16 (local.get $pa)))
          (local.set $c10 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c10)))
          (local.set $c11 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c11)))
          (local.set $x (v128.load32_splat offset=0 (local.get $pa1)))
          (local.set $c20 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c20)))
          (local.set $c21 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c21)))
          (local.set $x (v128.load32_splat offset=16 (local.get $pa1)))
          (local.set $c30 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c30)))
          (local.set $c31 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c31)))
          (local.set $x (v128.load32_splat offset=0 (local.get $pa2)))
          (local.set $c40 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c40)))
          (local.set $c41 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c41)))
          (local.set $x (v128.load32_splat offset=16 (local.get $pa2)))
          (local.set $c50 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c50)))
          (local.set $c51 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c51)))
          (local.set $w0 (v128.load offset=16 (local.get $pb)))
          (local.set $w1 (v128.load offset=16 (local.get $pb1)))
          (local.set $x (v128.load32_splat offset=4 (local.get $pa)))
          (local.set $c00 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c00)))
          (local.set $c01 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c01)))
          (local.set $x (v128.load32_splat offset=20 (local.get $pa)))
          (local.set $c10 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c10)))
          (local.set $c11 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c11)))
          (local.set $x (v128.load32_splat offset=4 (local.get $pa1)))
          (local.set $c20 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c20)))
          (local.set $c21 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c21)))
          (local.set $x (v128.load32_splat offset=20 (local.get $pa1)))
          (local.set $c30 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c30)))
          (local.set $c31 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c31)))
          (local.set $x (v128.load32_splat offset=4 (local.get $pa2)))
          (local.set $c40 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c40)))
          (local.set $c41 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c41)))
          (local.set $x (v128.load32_splat offset=20 (local.get $pa2)))
          (local.set $c50 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c50)))
          (local.set $c51 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c51)))
          (local.set $w0 (v128.load offset=32 (local.get $pb)))
          (local.set $w1 (v128.load offset=32 (local.get $pb1)))
          (local.set $x (v128.load32_splat offset=8 (local.get $pa)))
          (local.set $c00 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c00)))
          (local.set $c01 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c01)))
          (local.set $x (v128.load32_splat offset=24 (local.get $pa)))
          (local.set $c10 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c10)))
          (local.set $c11 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c11)))
          (local.set $x (v128.load32_splat offset=8 (local.get $pa1)))
          (local.set $c20 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c20)))
          (local.set $c21 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c21)))
          (local.set $x (v128.load32_splat offset=24 (local.get $pa1)))
          (local.set $c30 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c30)))
          (local.set $c31 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c31)))
          (local.set $x (v128.load32_splat offset=8 (local.get $pa2)))
          (local.set $c40 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c40)))
          (local.set $c41 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c41)))
          (local.set $x (v128.load32_splat offset=24 (local.get $pa2)))
          (local.set $c50 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c50)))
          (local.set $c51 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c51)))
          (local.set $w0 (v128.load offset=48 (local.get $pb)))
          (local.set $w1 (v128.load offset=48 (local.get $pb1)))
          (local.set $x (v128.load32_splat offset=12 (local.get $pa)))
          (local.set $c00 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c00)))
          (local.set $c01 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c01)))
          (local.set $x (v128.load32_splat offset=28 (local.get $pa)))
          (local.set $c10 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c10)))
          (local.set $c11 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c11)))
          (local.set $x (v128.load32_splat offset=12 (local.get $pa1)))
          (local.set $c20 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c20)))
          (local.set $c21 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c21)))
          (local.set $x (v128.load32_splat offset=28 (local.get $pa1)))
          (local.set $c30 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c30)))
          (local.set $c31 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c31)))
          (local.set $x (v128.load32_splat offset=12 (local.get $pa2)))
          (local.set $c40 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c40)))
          (local.set $c41 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c41)))
          (local.set $x (v128.load32_splat offset=28 (local.get $pa2)))
          (local.set $c50 (i32x4.dot_i8x16_i7x16_add_s (local.get $w0) (local.get $x) (local.get $c50)))
          (local.set $c51 (i32x4.dot_i8x16_i7x16_add_s (local.get $w1) (local.get $x) (local.get $c51)))
          (local.set $pa (i32.add (local.get $pa) (i32.const 32)))
          (local.set $pa1 (i32.add (local.get $pa1) (i32.const 32)))
          (local.set $pa2 (i32.add (local.get $pa2) (i32.const 32)))
          (local.set $pb (i32.add (local.get $pb) (i32.const 64)))
          (local.set $pb1 (i32.add (local.get $pb1) (i32.const 64)))
          (br $kl)))
        (local.set $s0 (v128.load (i32.add (local.get $sw) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $z0 (v128.load (i32.add (local.get $wsum) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $s1 (local.get $s0))
        (local.set $z1 (local.get $z0))
        (if (i32.gt_u (local.get $cols) (i32.const 4))
          (then
            (local.set $s1 (v128.load offset=16 (i32.add (local.get $sw) (i32.shl (local.get $j) (i32.const 2)))))
            (local.set $z1 (v128.load offset=16 (i32.add (local.get $wsum) (i32.shl (local.get $j) (i32.const 2)))))))
        (local.set $co (i32.add (local.get $y) (i32.add (i32.mul (local.get $i) (local.get $ldy)) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $psx (i32.add (local.get $sx) (i32.shl (local.get $i) (i32.const 2))))
        (local.set $pzx (i32.add (local.get $zx) (i32.shl (local.get $i) (i32.const 2))))
        (if (i32.and (i32.ge_u (local.get $cols) (i32.const 8)) (i32.ge_u (local.get $rows) (i32.const 6)))
          (then
            ;; a whole tile, its scales written out (a call spills every v128 register)
            (v128.store offset=0 (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 0))) (f32x4.mul (local.get $s0)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c00)) (v128.load32_splat offset=0 (local.get $psx)))
                         (f32x4.mul (local.get $z0) (v128.load32_splat offset=0 (local.get $pzx))))))
            (v128.store offset=16 (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 0))) (f32x4.mul (local.get $s1)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c01)) (v128.load32_splat offset=0 (local.get $psx)))
                         (f32x4.mul (local.get $z1) (v128.load32_splat offset=0 (local.get $pzx))))))
            (v128.store offset=0 (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 1))) (f32x4.mul (local.get $s0)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c10)) (v128.load32_splat offset=4 (local.get $psx)))
                         (f32x4.mul (local.get $z0) (v128.load32_splat offset=4 (local.get $pzx))))))
            (v128.store offset=16 (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 1))) (f32x4.mul (local.get $s1)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c11)) (v128.load32_splat offset=4 (local.get $psx)))
                         (f32x4.mul (local.get $z1) (v128.load32_splat offset=4 (local.get $pzx))))))
            (v128.store offset=0 (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 2))) (f32x4.mul (local.get $s0)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c20)) (v128.load32_splat offset=8 (local.get $psx)))
                         (f32x4.mul (local.get $z0) (v128.load32_splat offset=8 (local.get $pzx))))))
            (v128.store offset=16 (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 2))) (f32x4.mul (local.get $s1)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c21)) (v128.load32_splat offset=8 (local.get $psx)))
                         (f32x4.mul (local.get $z1) (v128.load32_splat offset=8 (local.get $pzx))))))
            (v128.store offset=0 (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 3))) (f32x4.mul (local.get $s0)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c30)) (v128.load32_splat offset=12 (local.get $psx)))
                         (f32x4.mul (local.get $z0) (v128.load32_splat offset=12 (local.get $pzx))))))
            (v128.store offset=16 (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 3))) (f32x4.mul (local.get $s1)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c31)) (v128.load32_splat offset=12 (local.get $psx)))
                         (f32x4.mul (local.get $z1) (v128.load32_splat offset=12 (local.get $pzx))))))
            (v128.store offset=0 (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 4))) (f32x4.mul (local.get $s0)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c40)) (v128.load32_splat offset=16 (local.get $psx)))
                         (f32x4.mul (local.get $z0) (v128.load32_splat offset=16 (local.get $pzx))))))
            (v128.store offset=16 (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 4))) (f32x4.mul (local.get $s1)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c41)) (v128.load32_splat offset=16 (local.get $psx)))
                         (f32x4.mul (local.get $z1) (v128.load32_splat offset=16 (local.get $pzx))))))
            (v128.store offset=0 (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 5))) (f32x4.mul (local.get $s0)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c50)) (v128.load32_splat offset=20 (local.get $psx)))
                         (f32x4.mul (local.get $z0) (v128.load32_splat offset=20 (local.get $pzx))))))
            (v128.store offset=16 (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 5))) (f32x4.mul (local.get $s1)
              (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (local.get $c51)) (v128.load32_splat offset=20 (local.get $psx)))
                         (f32x4.mul (local.get $z1) (v128.load32_splat offset=20 (local.get $pzx)))))))
          (else ;; a last tile's rows and columns, as far as they go
            (call $store_quads_row (local.get $co) (local.get $c00) (local.get $c01) (local.get $s0) (local.get $s1) (local.get $z0) (local.get $z1)
              (local.get $psx) (local.get $pzx) (local.get $cols))
            (if (i32.gt_u (local.get $rows) (i32.const 1))
              (then (call $store_quads_row (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 1))) (local.get $c10) (local.get $c11) (local.get $s0) (local.get $s1) (local.get $z0) (local.get $z1)
                (i32.add (local.get $psx) (i32.const 4)) (i32.add (local.get $pzx) (i32.const 4)) (local.get $cols))))
            (if (i32.gt_u (local.get $rows) (i32.const 2))
              (then (call $store_quads_row (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 2))) (local.get $c20) (local.get $c21) (local.get $s0) (local.get $s1) (local.get $z0) (local.get $z1)
                (i32.add (local.get $psx) (i32.const 8)) (i32.add (local.get $pzx) (i32.const 8)) (local.get $cols))))
            (if (i32.gt_u (local.get $rows) (i32.const 3))
              (then (call $store_quads_row (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 3))) (local.get $c30) (local.get $c31) (local.get $s0) (local.get $s1) (local.get $z0) (local.get $z1)
                (i32.add (local.get $psx) (i32.const 12)) (i32.add (local.get $pzx) (i32.const 12)) (local.get $cols))))
            (if (i32.gt_u (local.get $rows) (i32.const 4))
              (then (call $store_quads_row (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 4))) (local.get $c40) (local.get $c41) (local.get $s0) (local.get $s1) (local.get $z0) (local.get $z1)
                (i32.add (local.get $psx) (i32.const 16)) (i32.add (local.get $pzx) (i32.const 16)) (local.get $cols))))
            (if (i32.gt_u (local.get $rows) (i32.const 5))
              (then (call $store_quads_row (i32.add (local.get $co) (i32.mul (local.get $ldy) (i32.const 5))) (local.get $c50) (local.get $c51) (local.get $s0) (local.get $s1) (local.get $z0) (local.get $z1)
                (i32.add (local.get $psx) (i32.const 20)) (i32.add (local.get $pzx) (i32.const 20)) (local.get $cols))))))
        (local.set $j (i32.add (local.get $j) (i32.const 8)))
        (br $jl)))
      (local.set $i (i32.add (local.get $i) (i32.const 6)))
      (br $il))))

  ;; split-dot kernels
RELAXED;)

  ;; ---- elementwise ------------------------------------------------------------------------

  ;; softmax_rows is attention's softmax in place, written for the values' GEMM: for each
  ;; row i of n scores (stride ld ≥ k4), e = exp(scale·(x − max)) over its visible prefix
  ;; (vis = n, or min(n, causal+i+1) when causal ≥ 0), zeros beyond up to k4 (n rounded up
  ;; to 4, gemm_4x8's k); rs[i] = 1/Σe, for scale_rows to apply to the product (cheaper
  ;; than normalising the n values).
  (func $softmax_rows (export "softmax_rows")
    (param $x i32) (param $rows i32) (param $n i32) (param $ld i32) (param $scale f32) (param $causal i32)
    (param $k4 i32) (param $rs i32)
    (local $i i32) (local $vis i32) (local $p i32) (local $end i32) (local $end4 i32) (local $row i32) (local $o i32)
    (local $v v128) (local $mx v128) (local $mx2 v128) (local $sum v128) (local $m f32) (local $s f32) (local $e f32) (local $sc v128) (local $c i32)
    (local $sl f32) (local $en v128) (local $ef v128) (local $ep v128)
    (local.set $ld (i32.shl (local.get $ld) (i32.const 2)))
    (local.set $sl (f32.mul (local.get $scale) (f32.const 1.44269504)))
    (local.set $i (i32.const 0))
    (block $rd (loop $rl
      (br_if $rd (i32.ge_u (local.get $i) (local.get $rows)))
      (local.set $row (i32.add (local.get $x) (i32.mul (local.get $i) (local.get $ld))))
      (local.set $vis (local.get $n))
      (if (i32.ge_s (local.get $causal) (i32.const 0))
        (then
          (local.set $vis (i32.add (i32.add (local.get $causal) (local.get $i)) (i32.const 1)))
          (if (i32.gt_u (local.get $vis) (local.get $n)) (then (local.set $vis (local.get $n))))))
      (local.set $end (i32.add (local.get $row) (i32.shl (local.get $vis) (i32.const 2))))
      (local.set $end4 (i32.add (local.get $row) (i32.shl (i32.and (local.get $vis) (i32.const -4)) (i32.const 2))))
      ;; the maximum (of the raw scores: scale > 0), two vectors a step into two maxima:
      ;; one chain waits a max's latency (4 cycles) a vector, a third of the exp's work
      (local.set $mx (v128.const f32x4 -inf -inf -inf -inf))
      (local.set $mx2 (local.get $mx))
      (local.set $p (local.get $row))
      (block $d0 (loop $l0
        (br_if $d0 (i32.gt_u (i32.add (local.get $p) (i32.const 32)) (local.get $end4)))
        (local.set $mx (f32x4.pmax (local.get $mx) (v128.load (local.get $p))))
        (local.set $mx2 (f32x4.pmax (local.get $mx2) (v128.load offset=16 (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (br $l0)))
      (block $d1 (loop $l1
        (br_if $d1 (i32.ge_u (local.get $p) (local.get $end4)))
        (local.set $mx (f32x4.pmax (local.get $mx) (v128.load (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $l1)))
      (local.set $mx (f32x4.pmax (local.get $mx) (local.get $mx2)))
      (local.set $m (f32.max (f32.max (f32x4.extract_lane 0 (local.get $mx)) (f32x4.extract_lane 1 (local.get $mx)))
                             (f32.max (f32x4.extract_lane 2 (local.get $mx)) (f32x4.extract_lane 3 (local.get $mx)))))
      (block $d2 (loop $l2
        (br_if $d2 (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $m (f32.max (local.get $m) (f32.load (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $l2)))
      ;; e = 2^((x − max)·scale·log2 e) over the scores
      (local.set $mx (f32x4.splat (local.get $m)))
      (local.set $sc (f32x4.splat (local.get $sl)))
      (local.set $sum (v128.const i64x2 0 0))
      (local.set $o (local.get $row))
      (local.set $p (local.get $row))
      (block $d3 (loop $l3
        (br_if $d3 (i32.ge_u (local.get $p) (local.get $end4)))
        (local.set $v (f32x4.pmax (f32x4.mul (f32x4.sub (v128.load (local.get $p)) (local.get $mx)) (local.get $sc))
                                  (v128.const f32x4 -126 -126 -126 -126)))
        ;; exp2 $v
        (v128.store (local.get $o) (local.get $v))
        (local.set $sum (f32x4.add (local.get $sum) (local.get $v)))
        (local.set $o (i32.add (local.get $o) (i32.const 16)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $l3)))
      (local.set $s (call $hsum (local.get $sum)))
      (local.set $c (i32.const 0))
      (block $d4 (loop $l4
        (br_if $d4 (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $v (f32x4.splat (f32.max (f32.mul (f32.sub (f32.load (local.get $p)) (local.get $m)) (local.get $sl)) (f32.const -126))))
        ;; exp2 $v
        (local.set $e (f32x4.extract_lane 0 (local.get $v)))
        (f32.store (i32.add (local.get $o) (i32.shl (local.get $c) (i32.const 2))) (local.get $e))
        (local.set $s (f32.add (local.get $s) (local.get $e)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $l4)))
      ;; zeros past the visible values, up to k4
      (memory.fill (i32.add (local.get $row) (i32.shl (local.get $vis) (i32.const 2))) (i32.const 0)
        (i32.shl (i32.sub (local.get $k4) (local.get $vis)) (i32.const 2)))
      (f32.store (i32.add (local.get $rs) (i32.shl (local.get $i) (i32.const 2))) (f32.div (f32.const 1) (local.get $s)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rl))))

  ;; scale_rows multiplies row i of x (n values, stride ld floats) by s[i].
  (func $scale_rows (export "scale_rows") (param $x i32) (param $rows i32) (param $n i32) (param $ld i32) (param $s i32)
    (local $i i32) (local $p i32) (local $end i32) (local $end4 i32) (local $v v128)
    (local.set $ld (i32.shl (local.get $ld) (i32.const 2)))
    (local.set $i (i32.const 0))
    (block $rd (loop $rl
      (br_if $rd (i32.ge_u (local.get $i) (local.get $rows)))
      (local.set $p (i32.add (local.get $x) (i32.mul (local.get $i) (local.get $ld))))
      (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
      (local.set $end4 (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
      (local.set $v (v128.load32_splat (i32.add (local.get $s) (i32.shl (local.get $i) (i32.const 2)))))
      (block $d (loop $l
        (br_if $d (i32.ge_u (local.get $p) (local.get $end4)))
        (v128.store (local.get $p) (f32x4.mul (v128.load (local.get $p)) (local.get $v)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $l)))
      (block $d2 (loop $l2
        (br_if $d2 (i32.ge_u (local.get $p) (local.get $end)))
        (f32.store (local.get $p) (f32.mul (f32.load (local.get $p)) (f32x4.extract_lane 0 (local.get $v))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $l2)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rl))))

  ;; gelu sets x[i] = GELU(x[i]), the exact (erf) GELU, the text decoder's activation:
  ;; 0.5·x·(1 + erf(x/√2)), with erf from Abramowitz & Stegun 7.1.26 (absolute error below
  ;; 1.5e-7). One loop: the last n mod 4 values go through it one at a time (a splat in,
  ;; lane 0 out), so the body is written once and nothing is called per vector.
  (func $gelu (export "gelu") (param $x i32) (param $n i32)
    (local $end i32) (local $whole i32) (local $v v128)
    (local $z v128) (local $t v128) (local $p v128) (local $e v128) (local $en v128) (local $ef v128) (local $ep v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $whole (i32.le_u (i32.add (local.get $x) (i32.const 16)) (local.get $end)))
      (if (local.get $whole)
        (then (local.set $v (v128.load (local.get $x))))
        (else (local.set $v (v128.load32_splat (local.get $x)))))
      (local.set $z (f32x4.abs (f32x4.mul (local.get $v) (v128.const f32x4 0.70710678 0.70710678 0.70710678 0.70710678))))
      (local.set $t (f32x4.div (v128.const f32x4 1 1 1 1)
        (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $z) (v128.const f32x4 0.3275911 0.3275911 0.3275911 0.3275911)))))
      (local.set $p (v128.const f32x4 1.061405429 1.061405429 1.061405429 1.061405429))
      (local.set $p (f32x4.add (v128.const f32x4 -1.453152027 -1.453152027 -1.453152027 -1.453152027) (f32x4.mul (local.get $p) (local.get $t)))) ;; madd
      (local.set $p (f32x4.add (v128.const f32x4 1.421413741 1.421413741 1.421413741 1.421413741) (f32x4.mul (local.get $p) (local.get $t)))) ;; madd
      (local.set $p (f32x4.add (v128.const f32x4 -0.284496736 -0.284496736 -0.284496736 -0.284496736) (f32x4.mul (local.get $p) (local.get $t)))) ;; madd
      (local.set $p (f32x4.add (v128.const f32x4 0.254829592 0.254829592 0.254829592 0.254829592) (f32x4.mul (local.get $p) (local.get $t)))) ;; madd
      (local.set $p (f32x4.mul (local.get $p) (local.get $t)))
      ;; erf(|x|/√2) = 1 − p·e^(−z²); GELU = 0.5x(1 + sign(x)·erf) = x·(1 − 0.5·p·e^(−z²)) for
      ;; x ≥ 0, and 0.5·x·p·e^(−z²) for x < 0. e^(−z²) = 2^(−z²·log2 e).
      (local.set $e (f32x4.pmax (f32x4.mul (f32x4.mul (local.get $z) (local.get $z)) (v128.const f32x4 -1.44269504 -1.44269504 -1.44269504 -1.44269504))
                                (v128.const f32x4 -126 -126 -126 -126)))
      ;; exp2 $e
      (local.set $e (f32x4.mul (f32x4.mul (local.get $p) (local.get $e)) (v128.const f32x4 0.5 0.5 0.5 0.5)))
      (local.set $v (f32x4.mul (local.get $v)
        (v128.bitselect
          (local.get $e)
          (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $e))
          (f32x4.lt (local.get $v) (v128.const f32x4 0 0 0 0)))))
      (if (local.get $whole)
        (then (v128.store (local.get $x) (local.get $v))
              (local.set $x (i32.add (local.get $x) (i32.const 16))))
        (else (f32.store (local.get $x) (f32x4.extract_lane 0 (local.get $v)))
              (local.set $x (i32.add (local.get $x) (i32.const 4)))))
      (br $l))))

  ;; quick_gelu sets x[i] = x[i]·σ(1.702·x[i]) = x[i] / (1 + e^(-1.702·x[i])), CLIP's
  ;; activation, in one loop as gelu.
  (func $quick_gelu (export "quick_gelu") (param $x i32) (param $n i32)
    (local $end i32) (local $whole i32) (local $v v128) (local $y v128) (local $en v128) (local $ef v128) (local $ep v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $d (loop $l
      (br_if $d (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $whole (i32.le_u (i32.add (local.get $x) (i32.const 16)) (local.get $end)))
      (if (local.get $whole)
        (then (local.set $v (v128.load (local.get $x))))
        (else (local.set $v (v128.load32_splat (local.get $x)))))
      ;; e^(-1.702·x) = 2^(-1.702·log2 e·x)
      (local.set $y (f32x4.pmin (f32x4.pmax (f32x4.mul (local.get $v) (v128.const f32x4 -2.45546696 -2.45546696 -2.45546696 -2.45546696))
                                            (v128.const f32x4 -126 -126 -126 -126)) (v128.const f32x4 127 127 127 127)))
      ;; exp2 $y
      (local.set $v (f32x4.div (local.get $v) (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $y))))
      (if (local.get $whole)
        (then (v128.store (local.get $x) (local.get $v))
              (local.set $x (i32.add (local.get $x) (i32.const 16))))
        (else (f32.store (local.get $x) (f32x4.extract_lane 0 (local.get $v)))
              (local.set $x (i32.add (local.get $x) (i32.const 4)))))
      (br $l))))

  ;; layer_norm normalises rows of d values: y = (x − mean)/√(var + eps)·gamma + beta
  ;; (y may be x). d must be a multiple of 4 (the caller checks).
  (func $layer_norm (export "layer_norm")
    (param $y i32) (param $x i32) (param $rows i32) (param $d i32) (param $gamma i32) (param $beta i32) (param $eps f32)
    (local $r i32) (local $p i32) (local $q i32) (local $end i32) (local $g i32) (local $b i32)
    (local $s v128) (local $v v128) (local $mean v128) (local $rstd v128) (local $fm f32) (local $fv f32)
    (local.set $r (i32.const 0))
    (block $rd (loop $rl
      (br_if $rd (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $p (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r) (local.get $d)) (i32.const 2))))
      (local.set $end (i32.add (local.get $p) (i32.shl (local.get $d) (i32.const 2))))
      (local.set $s (v128.const i64x2 0 0))
      (local.set $q (local.get $p))
      (block $d1 (loop $l1
        (br_if $d1 (i32.ge_u (local.get $q) (local.get $end)))
        (local.set $s (f32x4.add (local.get $s) (v128.load (local.get $q))))
        (local.set $q (i32.add (local.get $q) (i32.const 16)))
        (br $l1)))
      (local.set $fm (f32.div (call $hsum (local.get $s)) (f32.convert_i32_u (local.get $d))))
      (local.set $mean (f32x4.splat (local.get $fm)))
      (local.set $s (v128.const i64x2 0 0))
      (local.set $q (local.get $p))
      (block $d2 (loop $l2
        (br_if $d2 (i32.ge_u (local.get $q) (local.get $end)))
        (local.set $v (f32x4.sub (v128.load (local.get $q)) (local.get $mean)))
        (local.set $s (f32x4.add (local.get $s) (f32x4.mul (local.get $v) (local.get $v))))
        (local.set $q (i32.add (local.get $q) (i32.const 16)))
        (br $l2)))
      (local.set $fv (f32.div (call $hsum (local.get $s)) (f32.convert_i32_u (local.get $d))))
      (local.set $rstd (f32x4.splat (f32.div (f32.const 1) (f32.sqrt (f32.add (local.get $fv) (local.get $eps))))))
      (local.set $q (local.get $p))
      (local.set $g (local.get $gamma))
      (local.set $b (local.get $beta))
      (local.set $p (i32.add (local.get $y) (i32.shl (i32.mul (local.get $r) (local.get $d)) (i32.const 2))))
      (block $d3 (loop $l3
        (br_if $d3 (i32.ge_u (local.get $q) (local.get $end)))
        (v128.store (local.get $p)
          (f32x4.add
            (f32x4.mul (f32x4.mul (f32x4.sub (v128.load (local.get $q)) (local.get $mean)) (local.get $rstd)) (v128.load (local.get $g)))
            (v128.load (local.get $b))))
        (local.set $q (i32.add (local.get $q) (i32.const 16)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (local.set $g (i32.add (local.get $g) (i32.const 16)))
        (local.set $b (i32.add (local.get $b) (i32.const 16)))
        (br $l3)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl))))
)

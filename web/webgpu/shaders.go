package webgpu

import (
	"fmt"
	"strings"
)

// The WGSL kernels, one per kernels.Kernels method. Each reads its sizes from a params
// array (u32, with f32 values bitcast) at binding 0, so that one pipeline serves every
// shape. Most take one invocation per output value (or row) and no workgroup memory,
// which compiles fast on SwiftShader; the int8 products also come in tiles for hardware
// GPUs, and quantize_rows takes a workgroup a row. int8 weights stay int8 in GPU memory,
// four to a u32, with their per-row (and per-group) scales, and are dequantized in the
// shader.

// sign-extends byte t (0..3) of a little-endian word.
const unpackI8 = `
fn i8at(word: u32, t: u32) -> f32 {
  return f32(bitcast<i32>(word << (24u - 8u * t)) >> 24u);
}
`

// y[i][j] = Σ_p x[i][p]·w[j][p]·scale[j][p / group] for i < m, j < n, p < k; the rows of
// w are kw bytes apart (k rounded up to 4).
const linearQ8WGSL = unpackI8 + `
@group(0) @binding(0) var<storage, read> P: array<u32>; // m, n, k, kw, group, groups
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> s: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let m = P[0]; let n = P[1]; let k = P[2]; let kw = P[3]; let group = P[4]; let groups = P[5];
  let j = id.x; let i = id.y;
  if (j >= n || i >= m) { return; }
  var total = 0.0;
  var g = 0u;
  while (g * group < k) {
    var acc = 0.0;
    var p = g * group;
    let end = min(k, (g + 1u) * group);
    // four weights a word, dotted with four activations (the rows start on words)
    while (p + 4u <= end && p % 4u == 0u) {
      let word = w[(j * kw + p) / 4u];
      let xb = i * k + p;
      acc += dot(vec4<f32>(x[xb], x[xb + 1u], x[xb + 2u], x[xb + 3u]),
                 vec4<f32>(i8at(word, 0u), i8at(word, 1u), i8at(word, 2u), i8at(word, 3u)));
      p += 4u;
    }
    for (; p < end; p++) {
      acc += x[i * k + p] * i8at(w[(j * kw + p) / 4u], p % 4u);
    }
    total += acc * s[j * groups + g];
    g++;
  }
  y[i * n + j] = total;
}
`

// C[i][j] = Σ_p A[i·lda + p]·B[j·ldb + p] (the gaps of C between rows are kept).
const gemmNTWGSL = `
@group(0) @binding(0) var<storage, read> P: array<u32>; // m, n, k, lda, ldb, ldc
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let m = P[0]; let n = P[1]; let k = P[2]; let lda = P[3]; let ldb = P[4]; let ldc = P[5];
  let j = id.x; let i = id.y;
  if (j >= n || i >= m) { return; }
  var acc = 0.0;
  for (var p = 0u; p < k; p++) {
    acc += a[i * lda + p] * b[j * ldb + p];
  }
  c[i * ldc + j] = acc;
}
`

// gemm_nt in 16×16 tiles, as linear_q8_tiled (hardware GPUs): each value staged in
// workgroup memory serves 16 products.
const gemmNTTiledWGSL = `
@group(0) @binding(0) var<storage, read> P: array<u32>; // m, n, k, lda, ldb, ldc
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

var<workgroup> as_: array<array<f32, 16>, 16>; // [row][column of the tile]
var<workgroup> bs: array<array<f32, 16>, 16>;  // [output][column of the tile]

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) l: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let m = P[0]; let n = P[1]; let k = P[2]; let lda = P[3]; let ldb = P[4]; let ldc = P[5];
  let j = wg.x * 16u + l.x;
  let i = wg.y * 16u + l.y;
  let bj = wg.x * 16u + l.y; // the output whose row of b this invocation stages
  var acc = 0.0;
  for (var p0 = 0u; p0 < k; p0 += 16u) {
    let p = p0 + l.x;
    var av = 0.0;
    if (i < m && p < k) { av = a[i * lda + p]; }
    as_[l.y][l.x] = av;
    var bv = 0.0;
    if (bj < n && p < k) { bv = b[bj * ldb + p]; }
    bs[l.y][l.x] = bv;
    workgroupBarrier();
    for (var t = 0u; t < 16u; t++) {
      acc += as_[l.y][t] * bs[l.x][t];
    }
    workgroupBarrier();
  }
  if (i < m && j < n) { c[i * ldc + j] = acc; }
}
`

// attentionBindings are the attention shaders' buffers.
const attentionBindings = `
@group(0) @binding(0) var<storage, read> P: array<u32>; // m, nk, heads, dh, scale (f32), causal (i32)
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> o: array<f32>;
`

// onlineSoftmaxStep is the attention shaders' online softmax over one key, whose c-th
// value of the head is key (and of its value row, value): its score, the running
// maximum, sum and output rescaled when the maximum grows, then the value added in.
func onlineSoftmaxStep(key, value string) string {
	return strings.NewReplacer("KEY", key, "VALUE", value).Replace(`
    var s = 0.0;
    for (var c = 0u; c < DH; c++) { s += qr[c] * KEY; }
    s *= scale;
    if (s > mx) {
      let f = exp(mx - s);
      sum *= f;
      for (var c = 0u; c < DH; c++) { acc[c] *= f; }
      mx = s;
    }
    let p = exp(s - mx);
    sum += p;
    for (var c = 0u; c < DH; c++) { acc[c] += p * VALUE; }`)
}

// One invocation per (query row, head), a workgroup 64 rows of one head (so that its
// invocations read the same key and value at the same time): softmax(scale·q·Kᵀ) over
// the visible keys (all, or min(nk, causal + i + 1) when causal ≥ 0), then the weighted
// sum of values, in one pass over the keys (the online softmax: the running sum and
// output are rescaled when the maximum grows). The head size DH is a constant of the
// pipeline (attentionShader), so that the loops over it unroll and the query row and
// the output stay in registers.
var attentionWGSL = attentionBindings + `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let m = P[0]; let nk = P[1]; let heads = P[2];
  let scale = bitcast<f32>(P[4]); let causal = bitcast<i32>(P[5]);
  let i = id.x; let h = id.y;
  if (i >= m || h >= heads) { return; }
  let d = heads * DH;
  let qi = i * d + h * DH;
  var vis = nk;
  if (causal >= 0) { vis = min(nk, u32(causal) + i + 1u); }
  var qr: array<f32, DH>;
  var acc: array<f32, DH>;
  for (var c = 0u; c < DH; c++) { qr[c] = q[qi + c]; acc[c] = 0.0; }
  var mx = -3.4e38;
  var sum = 0.0;
  for (var j = 0u; j < vis; j++) {
    let kj = j * d + h * DH;` + onlineSoftmaxStep("k[kj + c]", "v[kj + c]") + `
  }
  for (var c = 0u; c < DH; c++) { o[qi + c] = acc[c] / sum; }
}
`

// attention in tiles of keys, for hardware GPUs: as attention, but the workgroup's 64
// invocations stage TK keys and their values in workgroup memory together (neighbours
// reading neighbouring values) before each reads them all, so that a key read from
// storage serves 64 rows instead of one. The tiles run to the visible prefix of the
// workgroup's last row (the same for all its invocations, as its barriers need); each
// row stops at its own. TK·DH is about 1024 floats a tile: 8 KB of the 16 KB that every
// adapter offers.
var attentionTiledWGSL = attentionBindings + `
var<workgroup> kt: array<f32, TK * DH>; // [key of the tile][value]
var<workgroup> vt: array<f32, TK * DH>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) l: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let m = P[0]; let nk = P[1]; let heads = P[2];
  let scale = bitcast<f32>(P[4]); let causal = bitcast<i32>(P[5]);
  let h = wg.y;
  let i = wg.x * 64u + l.x;
  let d = heads * DH;
  let last = min(m, wg.x * 64u + 64u) - 1u;
  var tiles = nk; // keys the workgroup needs
  var vis = nk;   // keys this row sees
  if (causal >= 0) {
    tiles = min(nk, u32(causal) + last + 1u);
    vis = min(nk, u32(causal) + i + 1u);
  }
  let qi = min(i, m - 1u) * d + h * DH; // rows past m read the last row's query, write nothing
  var qr: array<f32, DH>;
  var acc: array<f32, DH>;
  for (var c = 0u; c < DH; c++) { qr[c] = q[qi + c]; acc[c] = 0.0; }
  var mx = -3.4e38;
  var sum = 0.0;
  for (var j0 = 0u; j0 < tiles; j0 += TK) {
    for (var e = l.x; e < TK * DH; e += 64u) {
      let j = j0 + e / DH;
      var kv = 0.0;
      var vv = 0.0;
      if (j < tiles) {
        let at = j * d + h * DH + e % DH;
        kv = k[at];
        vv = v[at];
      }
      kt[e] = kv;
      vt[e] = vv;
    }
    workgroupBarrier();
    let end = min(TK, vis - min(vis, j0));
    for (var t = 0u; t < end; t++) {
` + onlineSoftmaxStep("kt[t * DH + c]", "vt[t * DH + c]") + `
    }
    workgroupBarrier();
  }
  if (i < m) {
    for (var c = 0u; c < DH; c++) { o[qi + c] = acc[c] / sum; }
  }
}
`

// attention for few query rows (a decoder step, a short prompt), on hardware GPUs: a
// workgroup per (row, head), its 64 invocations sharing the keys instead of one
// invocation walking them all (which, at one row a step, left a head's whole pass to a
// single invocation). The scores go to workgroup memory (each invocation a key of every
// 64), their maximum and sum are reduced there, and each invocation then sums the
// values of an output column over every key (neighbours reading neighbouring values).
// Up to maxDecodeKeys keys (8 KB of workgroup memory).
const attentionRowsWGSL = attentionBindings + `
var<workgroup> sc: array<f32, MAXK>; // the row's scores, then their exponentials
var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) l: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let nk = P[1]; let heads = P[2];
  let scale = bitcast<f32>(P[4]); let causal = bitcast<i32>(P[5]);
  let i = wg.x; let h = wg.y;
  let d = heads * DH;
  let qi = i * d + h * DH;
  var vis = nk;
  if (causal >= 0) { vis = min(nk, u32(causal) + i + 1u); }
  var qr: array<f32, DH>;
  for (var c = 0u; c < DH; c++) { qr[c] = q[qi + c]; }
  var mx = -3.4e38;
  for (var j = l.x; j < vis; j += 64u) {
    let kj = j * d + h * DH;
    var s = 0.0;
    for (var c = 0u; c < DH; c++) { s += qr[c] * k[kj + c]; }
    s *= scale;
    sc[j] = s;
    mx = max(mx, s);
  }
  red[l.x] = mx;
  workgroupBarrier();
  for (var half = 32u; half > 0u; half /= 2u) {
    if (l.x < half) { red[l.x] = max(red[l.x], red[l.x + half]); }
    workgroupBarrier();
  }
  let top = red[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var j = l.x; j < vis; j += 64u) {
    let e = exp(sc[j] - top);
    sc[j] = e;
    sum += e;
  }
  red[l.x] = sum;
  workgroupBarrier();
  for (var half = 32u; half > 0u; half /= 2u) {
    if (l.x < half) { red[l.x] += red[l.x + half]; }
    workgroupBarrier();
  }
  let total = red[0];
  for (var c = l.x; c < DH; c += 64u) {
    var acc = 0.0;
    for (var j = 0u; j < vis; j++) { acc += sc[j] * v[j * d + h * DH + c]; }
    o[qi + c] = acc / total;
  }
}
`

// attentionRows is the query rows a workgroup of the tiled and untiled attention takes.
const attentionRows = 64

// maxDecodeKeys is the most keys attention_rows holds the scores of: GIT's 901 image
// tokens and 1024 positions of text fit.
const maxDecodeKeys = 2048

// maxHeadSize is the largest head the attention shader is built for: its query row and
// output are DH registers each.
const maxHeadSize = 128

// attentionShader is the attention kernel for m query rows over nk keys in heads of dh
// values, its source and how many rows a workgroup takes: on hardware GPUs (tiled) a
// workgroup a row and head for fewer than 64 rows (a workgroup's worth) or tiles of keys
// for more; on SwiftShader, whose barriers are slow, one invocation a row and head.
func attentionShader(m, nk, dh int, tiled bool) (name, wgsl string, rowsPerGroup int) {
	switch {
	case tiled && m < attentionRows && nk <= maxDecodeKeys:
		return fmt.Sprintf("attention_rows_dh%d", dh), fmt.Sprintf("const DH = %du;\nconst MAXK = %du;\n", dh, maxDecodeKeys) + attentionRowsWGSL, 1
	case tiled:
		tk := max(1, 1024/dh)
		return fmt.Sprintf("attention_tiled_dh%d", dh), fmt.Sprintf("const DH = %du;\nconst TK = %du;\n", dh, tk) + attentionTiledWGSL, attentionRows
	}
	return fmt.Sprintf("attention_dh%d", dh), fmt.Sprintf("const DH = %du;\n", dh) + attentionWGSL, attentionRows
}

// One invocation per row of d values: y = (x − mean)/√(var + eps)·γ + β, in two passes.
const layerNormWGSL = `
@group(0) @binding(0) var<storage, read> P: array<u32>; // rows, d, eps (f32)
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let rows = P[0]; let d = P[1]; let eps = bitcast<f32>(P[2]);
  let r = id.x;
  if (r >= rows) { return; }
  var mean = 0.0;
  for (var c = 0u; c < d; c++) { mean += x[r * d + c]; }
  mean /= f32(d);
  var v = 0.0;
  for (var c = 0u; c < d; c++) { let t = x[r * d + c] - mean; v += t * t; }
  let inv = 1.0 / sqrt(v / f32(d) + eps);
  for (var c = 0u; c < d; c++) { y[r * d + c] = (x[r * d + c] - mean) * inv * gamma[c] + beta[c]; }
}
`

// Activations in place, by kind: 0 quick_gelu (CLIP), 1 gelu (BERT's erf form, erf by
// Abramowitz & Stegun 7.1.26 as in the SIMD module: absolute error below 1.5e-7).
const activateWGSL = `
@group(0) @binding(0) var<storage, read> P: array<u32>; // n, kind
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

fn erf(z: f32) -> f32 {
  let a = abs(z);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return select(-y, y, z >= 0.0);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let n = P[0]; let kind = P[1];
  let i = id.y * 65535u * 64u + id.x;
  if (i >= n) { return; }
  let v = x[i];
  if (kind == 0u) {
    x[i] = v / (1.0 + exp(-1.702 * v));
  } else {
    x[i] = 0.5 * v * (1.0 + erf(v * 0.70710678118654752));
  }
}
`

// y[i][j] += bias[j].
const addBiasWGSL = `
@group(0) @binding(0) var<storage, read> P: array<u32>; // rows, n
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let rows = P[0]; let n = P[1];
  let j = id.x; let i = id.y;
  if (j >= n || i >= rows) { return; }
  y[i * n + j] += b[j];
}
`

// y = a + b (the residual connections).
const addWGSL = `
@group(0) @binding(0) var<storage, read> P: array<u32>; // n
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.y * 65535u * 64u + id.x;
  if (i >= P[0]) { return; }
  y[i] = a[i] + b[i];
}
`

// The DP4A path (where navigator.gpu.wgslLanguageFeatures has
// packed_4x8_integer_dot_product): each row of activations quantized to int8 with its
// own scale (max|x|/127, rounded half to even as WGSL's round() does), then four int8
// products a dot4I8Packed, summed in i32 per scale group.

// A workgroup per row: sx[r] and the row's bytes, four to a u32 (k a multiple of 4). Its
// 64 invocations read the row together (neighbours read neighbouring values) and reduce
// their maxima in workgroup memory: one invocation a row read each row alone, 4 KB
// apart from its neighbours, over 15 workgroups for 901 rows.
const quantizeRowsWGSL = `
@group(0) @binding(0) var<storage, read> P: array<u32>; // rows, k
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> xq: array<u32>;
@group(0) @binding(3) var<storage, read_write> sx: array<f32>;

var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) l: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let rows = P[0]; let k = P[1];
  let r = wg.y * 65535u + wg.x;
  if (r >= rows) { return; }
  var mx = 0.0;
  for (var p = l.x; p < k; p += 64u) { mx = max(mx, abs(x[r * k + p])); }
  red[l.x] = mx;
  workgroupBarrier();
  for (var half = 32u; half > 0u; half /= 2u) {
    if (l.x < half) { red[l.x] = max(red[l.x], red[l.x + half]); }
    workgroupBarrier();
  }
  let top = red[0];
  let s = select(top / 127.0, 1.0, top == 0.0);
  if (l.x == 0u) { sx[r] = s; }
  for (var q = l.x; q < k / 4u; q += 64u) {
    var word = 0u;
    for (var t = 0u; t < 4u; t++) {
      let v = i32(clamp(round(x[r * k + 4u * q + t] / s), -127.0, 127.0));
      word |= (bitcast<u32>(v) & 0xffu) << (8u * t);
    }
    xq[r * (k / 4u) + q] = word;
  }
}
`

// dp4aBindings are the DP4A products' buffers: the quantized rows and their scales, the
// int8 weights and theirs, the output.
const dp4aBindings = `
@group(0) @binding(0) var<storage, read> P: array<u32>; // m, n, k, group, groups
@group(0) @binding(1) var<storage, read> xq: array<u32>;
@group(0) @binding(2) var<storage, read> sx: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<u32>;
@group(0) @binding(4) var<storage, read> s: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
`

// y[i][j] = sx[i]·Σ_g scale[j][g]·Σ_{p in g} xq[i][p]·w[j][p] (group a multiple of 4).
const linearDP4AWGSL = dp4aBindings + `

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let m = P[0]; let n = P[1]; let k = P[2]; let group = P[3]; let groups = P[4];
  let j = id.x; let i = id.y;
  if (j >= n || i >= m) { return; }
  let words = k / 4u;
  var total = 0.0;
  for (var g = 0u; g < groups; g++) {
    var acc = 0i;
    let end = min(words, (g + 1u) * group / 4u);
    for (var q = g * group / 4u; q < end; q++) {
      acc += dot4I8Packed(xq[i * words + q], w[j * words + q]);
    }
    total += f32(acc) * s[j * groups + g];
  }
  y[i * n + j] = total * sx[i];
}
`

// linear_q8 in 16×16 tiles: a workgroup computes 16 rows × 16 outputs, staging 16
// columns of x and of the (dequantized) weights in workgroup memory at a time, so each
// value read from storage serves 16 products instead of one. The scale is applied at
// each group's end, so a group must be a multiple of 16 (or the whole row). The tiles
// and the sums of 16 are of type h: f32, or f16 where the adapter has shader-f16
// (floatProductShader). They hold x/64 and w/128 (exact: powers of two), so that in f16
// a sum of 16 stays finite for |x| < 2.6·10⁵ (16·|x|/64·127/128 < 65504), and the 8192
// is given back at the end; values of x below 0.004 go subnormal in f16 (flushed to zero
// on some GPUs), which costs less than int8 activations' rounding (max|x|/254).
const linearQ8TiledWGSL = unpackI8 + `
@group(0) @binding(0) var<storage, read> P: array<u32>; // m, n, k, kw, group, groups
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> s: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> xs: array<array<h, 16>, 16>; // [row][column of the tile]
var<workgroup> ws: array<array<h, 16>, 16>; // [output][column of the tile]

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) l: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let m = P[0]; let n = P[1]; let k = P[2]; let kw = P[3]; let group = P[4]; let groups = P[5];
  let j = wg.x * 16u + l.x;
  let i = wg.y * 16u + l.y;
  let xi = wg.y * 16u + l.y; // the row this invocation stages
  let wj = wg.x * 16u + l.y; // the output whose weights it stages
  var total = 0.0;
  var acc = 0.0;
  for (var p0 = 0u; p0 < k; p0 += 16u) {
    let p = p0 + l.x;
    var xv = 0.0;
    if (xi < m && p < k) { xv = x[xi * k + p]; }
    xs[l.y][l.x] = h(xv * 0.015625);
    var wv = 0.0;
    if (wj < n && p < k) { wv = i8at(w[(wj * kw + p) / 4u], p % 4u); }
    ws[l.y][l.x] = h(wv * 0.0078125);
    workgroupBarrier();
    var part = h(0.0);
    for (var t = 0u; t < 16u; t++) {
      part += xs[l.y][t] * ws[l.x][t];
    }
    acc += f32(part);
    workgroupBarrier();
    if (p0 + 16u >= k || (p0 + 16u) % group == 0u) {
      if (j < n) { total += acc * s[j * groups + p0 / group]; }
      acc = 0.0;
    }
  }
  if (i < m && j < n) { y[i * n + j] = total * 8192.0; }
}
`

// linear_q8 in 64×64 tiles, 4×4 outputs an invocation (for 32 rows or more), as
// linear_dp4a_reg4 is linear_dp4a_tiled: a workgroup stages 16 columns of its 64 rows and
// of its 64 outputs' (dequantized) weights at a time, and each invocation keeps its 16
// sums in registers, so that a value read from workgroup memory serves 4 products and one
// read from storage 64. Of type h, as linear_q8_tiled, with the same x/64, w/128 and
// sums of 16 in h; groups of a multiple of 16 values, or the row.
const linearQ8Reg4WGSL = unpackI8 + `
@group(0) @binding(0) var<storage, read> P: array<u32>; // m, n, k, kw, group, groups
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> s: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> xs: array<array<h, 64>, 16>; // [column of the tile][row]
var<workgroup> ws: array<array<h, 64>, 16>; // [column of the tile][output]

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) l: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let m = P[0]; let n = P[1]; let k = P[2]; let kw = P[3]; let group = P[4]; let groups = P[5];
  let row0 = wg.y * 64u;
  let col0 = wg.x * 64u;
  let flat = l.y * 16u + l.x;
  var acc: array<array<f32, 4>, 4>;
  var total: array<array<f32, 4>, 4>;
  for (var p0 = 0u; p0 < k; p0 += 16u) {
    // 64 rows × 16 columns of each: four values an invocation, a row's 16 columns by 16
    // neighbouring invocations
    for (var e = 0u; e < 4u; e++) {
      let r = (flat + 256u * e) / 16u;
      let t = (flat + 256u * e) % 16u;
      let p = p0 + t;
      var xv = 0.0;
      if (row0 + r < m && p < k) { xv = x[(row0 + r) * k + p]; }
      xs[t][r] = h(xv * 0.015625);
      var wv = 0.0;
      if (col0 + r < n && p < k) { wv = i8at(w[((col0 + r) * kw + p) / 4u], p % 4u); }
      ws[t][r] = h(wv * 0.0078125);
    }
    workgroupBarrier();
    var part: array<array<h, 4>, 4>;
    for (var i = 0u; i < 4u; i++) {
      for (var j = 0u; j < 4u; j++) { part[i][j] = h(0.0); } // (not every compiler zeroes a var declared in a loop each time)
    }
    for (var t = 0u; t < 16u; t++) {
      var a: array<h, 4>;
      var b: array<h, 4>;
      for (var i = 0u; i < 4u; i++) { a[i] = xs[t][l.y * 4u + i]; b[i] = ws[t][l.x * 4u + i]; }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { part[i][j] += a[i] * b[j]; }
      }
    }
    for (var i = 0u; i < 4u; i++) {
      for (var j = 0u; j < 4u; j++) { acc[i][j] += f32(part[i][j]); }
    }
    workgroupBarrier();
    if (p0 + 16u >= k || (p0 + 16u) % group == 0u) {
      for (var j = 0u; j < 4u; j++) {
        let c = col0 + l.x * 4u + j;
        if (c < n) {
          let sc = s[c * groups + p0 / group];
          for (var i = 0u; i < 4u; i++) { total[i][j] += acc[i][j] * sc; }
        }
        for (var i = 0u; i < 4u; i++) { acc[i][j] = 0.0; }
      }
    }
  }
  for (var i = 0u; i < 4u; i++) {
    let r = row0 + l.y * 4u + i;
    if (r >= m) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + l.x * 4u + j;
      if (c < n) { y[r * n + c] = total[i][j] * 8192.0; }
    }
  }
}
`

// floatProductShader is a float product's source, tiled 16×16 or 64×64 (reg4), of f16
// or f32: the same text with h aliased to either.
func floatProductShader(name string) string {
	wgsl := linearQ8TiledWGSL
	if strings.HasPrefix(name, "linear_q8_reg4") {
		wgsl = linearQ8Reg4WGSL
	}
	if strings.HasSuffix(name, "_f16") {
		return "enable f16;\nalias h = f16;\n" + wgsl
	}
	return "alias h = f32;\n" + wgsl
}

// linear_dp4a in 16×16 tiles, as linear_q8_tiled: a workgroup computes 16 rows × 16
// outputs, staging 16 words (64 int8 values) of each of its rows and of each of its
// outputs' weights in workgroup memory at a time, so that each word read from storage
// serves 16 products. The scale is applied at each group's end, so a group must be a
// multiple of 64 values (or the whole row).
const linearDP4ATiledWGSL = dp4aBindings + `

var<workgroup> xs: array<array<u32, 16>, 16>; // [row][word of the tile]
var<workgroup> ws: array<array<u32, 16>, 16>; // [output][word of the tile]

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) l: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let m = P[0]; let n = P[1]; let k = P[2]; let group = P[3]; let groups = P[4];
  let words = k / 4u;
  let groupWords = group / 4u;
  let j = wg.x * 16u + l.x;
  let i = wg.y * 16u + l.y;
  let xi = wg.y * 16u + l.y; // the row this invocation stages
  let wj = wg.x * 16u + l.y; // the output whose weights it stages
  var total = 0.0;
  var acc = 0i;
  for (var q0 = 0u; q0 < words; q0 += 16u) {
    let q = q0 + l.x;
    var xv = 0u;
    if (xi < m && q < words) { xv = xq[xi * words + q]; }
    xs[l.y][l.x] = xv;
    var wv = 0u;
    if (wj < n && q < words) { wv = w[wj * words + q]; }
    ws[l.y][l.x] = wv;
    workgroupBarrier();
    for (var t = 0u; t < 16u; t++) {
      acc += dot4I8Packed(xs[l.y][t], ws[l.x][t]);
    }
    workgroupBarrier();
    if (q0 + 16u >= words || (q0 + 16u) % groupWords == 0u) {
      if (j < n) { total += f32(acc) * s[j * groups + q0 / groupWords]; }
      acc = 0i;
    }
  }
  if (i < m && j < n) { y[i * n + j] = total * sx[i]; }
}
`

// linear_dp4a in 64×64 tiles, 4×4 outputs an invocation (for 32 rows or more): a
// workgroup stages 16 words of its 64 rows and of its 64 outputs' weights at a time, and
// each invocation keeps its 16 sums in registers, so that a word read from workgroup
// memory serves 4 products (1 in linear_dp4a_tiled) and one read from storage 64. The
// scale is applied at each group's end: groups of a multiple of 64 values, or the row.
const linearDP4AReg4WGSL = dp4aBindings + `

var<workgroup> xs: array<array<u32, 64>, 16>; // [word of the tile][row]
var<workgroup> ws: array<array<u32, 64>, 16>; // [word of the tile][output]

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) l: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
  let m = P[0]; let n = P[1]; let k = P[2]; let group = P[3]; let groups = P[4];
  let words = k / 4u;
  let groupWords = group / 4u;
  let row0 = wg.y * 64u;
  let col0 = wg.x * 64u;
  let flat = l.y * 16u + l.x;
  var acc: array<array<i32, 4>, 4>;
  var total: array<array<f32, 4>, 4>;
  for (var q0 = 0u; q0 < words; q0 += 16u) {
    // 64 rows × 16 words of each: four words an invocation, a row's 16 words by 16
    // neighbouring invocations (one read of storage together)
    for (var e = 0u; e < 4u; e++) {
      let r = (flat + 256u * e) / 16u;
      let t = (flat + 256u * e) % 16u;
      let q = q0 + t;
      var xv = 0u;
      if (row0 + r < m && q < words) { xv = xq[(row0 + r) * words + q]; }
      xs[t][r] = xv;
      var wv = 0u;
      if (col0 + r < n && q < words) { wv = w[(col0 + r) * words + q]; }
      ws[t][r] = wv;
    }
    workgroupBarrier();
    for (var t = 0u; t < 16u; t++) {
      var a: array<u32, 4>;
      var b: array<u32, 4>;
      for (var i = 0u; i < 4u; i++) { a[i] = xs[t][l.y * 4u + i]; b[i] = ws[t][l.x * 4u + i]; }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i][j] += dot4I8Packed(a[i], b[j]); }
      }
    }
    workgroupBarrier();
    if (q0 + 16u >= words || (q0 + 16u) % groupWords == 0u) {
      for (var j = 0u; j < 4u; j++) {
        let c = col0 + l.x * 4u + j;
        if (c < n) {
          let sc = s[c * groups + q0 / groupWords];
          for (var i = 0u; i < 4u; i++) { total[i][j] += f32(acc[i][j]) * sc; }
        }
        for (var i = 0u; i < 4u; i++) { acc[i][j] = 0i; }
      }
    }
  }
  for (var i = 0u; i < 4u; i++) {
    let r = row0 + l.y * 4u + i;
    if (r >= m) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + l.x * 4u + j;
      if (c < n) { y[r * n + c] = total[i][j] * sx[r]; }
    }
  }
}
`

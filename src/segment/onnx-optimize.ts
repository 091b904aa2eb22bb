/**
 * Exact rewrites of a nanoroi U-Net graph that onnxruntime runs faster.
 *
 * 1. Each decoder level's "nearest ×2 up-sampling → concat with the skip → 3×3×3 conv" becomes
 * "parity convs over the coarse tensor, interleaved, + a 3×3×3 conv over the skip alone".
 *
 * Why it is exact: a 3×3×3 conv over a nearest-repeated tensor sees, at each fine voxel, only two
 * coarse neighbours per axis — an even fine index 2j reads coarse j−1 (through the conv's tap −1)
 * and j (taps 0 and +1), an odd one 2j+1 reads j (taps −1 and 0) and j+1 (tap +1) — so each of the
 * 2×2 (z, y) parities of the fine grid is a 2×2-tap conv over the coarse grid with the conv's taps
 * summed, and the conv's zero padding at the volume edge is theirs (asymmetric pads 1/0 or 0/1).
 * Along x the tensor is still repeated (a cheap innermost Expand) and convolved with the 3 taps, so
 * the interleave moves whole rows (session 12: parities along x too, 8 taps instead of 12, were as
 * fast alone, but their voxel-by-voxel interleave took 8 % of a window with the other core busy).
 * Per fine voxel the up part costs 12 multiply-adds per channel pair instead of 27, and the concat
 * is never built. The outputs differ from the exported graph's by float rounding only (summation
 * order; < 1e-5 on the tests).
 *
 * 2. The class Softmax over axis 1 becomes Exp(x − ReduceMax) / ReduceSum: onnxruntime's Softmax
 * on a non-last axis transposes the tensor there and back (session 12: 6 % less time a 64³ window,
 * values within 2e-7).
 *
 * Applied when a model is opened for inference (infer.ts, onnx-worker.ts), so the shipped .onnx
 * files — whose SHA-256 the cards, verifiers and label volumes record — stay as exported, and any
 * model written by `exportOnnx` since 0.5.0 (Unsqueeze → Expand → Reshape up-sampling) gains. A
 * graph that does not hold the pattern exactly is left as it is.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type Node = onnxProto.onnx.INodeProto;
type Tensor = onnxProto.onnx.ITensorProto;
const A = onnx.AttributeProto.AttributeType;

function floats(t: Tensor): Float32Array {
  const raw = t.rawData;
  if (raw && raw.length) return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  return Float32Array.from(t.floatData ?? []);
}

function int64s(t: Tensor | undefined): number[] | undefined {
  const raw = t?.rawData;
  if (!t || t.dataType !== onnx.TensorProto.DataType.INT64) return undefined;
  if (raw && raw.length) return Array.from(new BigInt64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)), Number);
  return (t.int64Data ?? []).map(Number);
}

const floatTensor = (name: string, dims: number[], data: Float32Array): Tensor =>
  onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) });

const int64Tensor = (name: string, values: number[]): Tensor =>
  onnx.TensorProto.create({ name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(BigInt64Array.from(values.map((v) => BigInt(v))).buffer) });

const node = (opType: string, name: string, input: string[], attrs: Record<string, number | number[]> = {}): Node =>
  onnx.NodeProto.create({
    opType,
    name,
    input,
    output: [name],
    attribute: Object.entries(attrs).map(([k, v]) => (Array.isArray(v) ? onnx.AttributeProto.create({ name: k, type: A.INTS, ints: v }) : onnx.AttributeProto.create({ name: k, type: A.INT, i: v }))),
  });

function ints(n: Node, name: string): number[] | undefined {
  const a = (n.attribute ?? []).find((x) => x.name === name);
  return a ? (a.ints ?? []).map(Number) : undefined;
}

function intAttr(n: Node, name: string): number | undefined {
  const a = (n.attribute ?? []).find((x) => x.name === name);
  return a ? Number(a.i) : undefined;
}

/**
 * Coarse taps per fine parity: PARITY_TAPS[parity][t] lists the 3×3×3 conv taps (0 ↔ offset −1,
 * 1 ↔ 0, 2 ↔ +1) that read coarse neighbour t of a fine voxel of that parity (even: j−1, j; odd: j, j+1).
 */
const PARITY_TAPS = [
  [[0], [1, 2]],
  [[0, 1], [2]],
];

/**
 * The weights [cout, cu, 2, 2, 3] of the conv that gives fine parity (pz, py) of a 3×3×3 conv
 * (weights [cout, cin, 3, 3, 3]) over the z/y nearest ×2 repeat of its input channels [0, cu).
 */
export function parityKernel(w: Float32Array, cout: number, cin: number, cu: number, pz: number, py: number): Float32Array {
  const k = new Float32Array(cout * cu * 12);
  for (let o = 0; o < cout; o++)
    for (let i = 0; i < cu; i++)
      for (let a = 0; a < 2; a++)
        for (let b = 0; b < 2; b++)
          for (let c = 0; c < 3; c++) {
            let s = 0;
            for (const kd of PARITY_TAPS[pz][a]) for (const kh of PARITY_TAPS[py][b]) s += w[(o * cin + i) * 27 + kd * 9 + kh * 3 + c];
            k[(o * cu + i) * 12 + a * 6 + b * 3 + c] = s;
          }
  return k;
}

export interface RewriteResult {
  bytes: Uint8Array;
  /** Decoder levels and softmaxes rewritten (0: the bytes given, unchanged). */
  rewritten: number;
}

/** Rewrite every "up-sample → concat → 3×3×3 conv" and the class softmax of a nanoroi U-Net graph (see the file comment). */
export function optimizeForInference(bytes: Uint8Array): RewriteResult {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  if (!graph?.node) return { bytes, rewritten: 0 };
  const producer = new Map<string, Node>();
  const consumers = new Map<string, Node[]>();
  for (const n of graph.node) {
    for (const o of n.output ?? []) producer.set(o, n);
    for (const i of n.input ?? []) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  }
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const graphOutputs = new Set((graph.output ?? []).map((o) => o.name));
  /** The single node reading `name` (none if several read it or it is a graph output). */
  const only = (name: string): Node | undefined => {
    const c = consumers.get(name);
    return c && c.length === 1 && !graphOutputs.has(name) ? c[0] : undefined;
  };
  const drop = new Set<Node>();
  const replace = new Map<Node, Node[]>();
  const added: Tensor[] = [];
  let rewritten = 0;
  for (const concat of graph.node) {
    const inputs = concat.input ?? [];
    if (concat.opType !== 'Concat' || intAttr(concat, 'axis') !== 1 || inputs.length !== 2) continue;
    const [upName, skip] = inputs;
    const reshape = producer.get(upName);
    if (reshape?.opType !== 'Reshape' || only(upName) !== concat) continue;
    const [expanded, shapeName] = reshape.input ?? [];
    const expand = producer.get(expanded);
    if (expand?.opType !== 'Expand' || only(expanded) !== reshape) continue;
    const unsq = producer.get((expand.input ?? [])[0]);
    if (unsq?.opType !== 'Unsqueeze' || only((expand.input ?? [])[0]) !== expand) continue;
    // The repeat must be ×2 along z, y, x: Unsqueeze axes [3, 5, 7], Expand to [1, 1, 1, 2, 1, 2, 1, 2].
    if (int64s(inits.get((unsq.input ?? [])[1]))?.join(',') !== '3,5,7' || int64s(inits.get((expand.input ?? [])[1]))?.join(',') !== '1,1,1,2,1,2,1,2') continue;
    const conv = only((concat.output ?? [])[0]);
    if (conv?.opType !== 'Conv' || (conv.input ?? []).length < 2) continue;
    if (ints(conv, 'kernel_shape')?.join(',') !== '3,3,3' || ints(conv, 'pads')?.join(',') !== '1,1,1,1,1,1') continue;
    if ((ints(conv, 'strides') ?? [1, 1, 1]).some((s) => s !== 1) || (ints(conv, 'dilations') ?? [1, 1, 1]).some((s) => s !== 1) || (intAttr(conv, 'group') ?? 1) !== 1) continue;
    // The up part's channels: those of the 1×1×1 projection that feeds the repeat.
    const coarse = (unsq.input ?? [])[0];
    const proj = producer.get(coarse);
    const projW = proj?.opType === 'Conv' ? inits.get((proj.input ?? [])[1]) : undefined;
    const wT = inits.get((conv.input ?? [])[1]);
    if (!projW?.dims || wT?.dims?.length !== 5 || wT.dataType !== onnx.TensorProto.DataType.FLOAT) continue;
    const cu = Number(projW.dims[0]);
    const [cout, cin] = [Number(wT.dims[0]), Number(wT.dims[1])];
    if (!(cu > 0 && cu < cin)) continue;

    const w = floats(wT);
    const cs = cin - cu;
    const out = (conv.output ?? [])[0];
    const base = `${out}.fused`;
    const nodes: Node[] = [];
    // x: nearest ×2 along the innermost axis only ([N, C, D, H, W] → [N, C, D, H, 2W]).
    const shape = `${base}.shape`;
    nodes.push(node('Shape', shape, [coarse]));
    added.push(int64Tensor(`${base}.x.axes`, [5]), int64Tensor(`${base}.x.expand`, [1, 1, 1, 1, 1, 2]), int64Tensor(`${base}.x.scale`, [1, 1, 1, 1, 2]));
    nodes.push(node('Unsqueeze', `${base}.x.u`, [coarse, `${base}.x.axes`]));
    nodes.push(node('Expand', `${base}.x.e`, [`${base}.x.u`, `${base}.x.expand`]));
    nodes.push(node('Mul', `${base}.x.shape`, [shape, `${base}.x.scale`]));
    nodes.push(node('Reshape', `${base}.x`, [`${base}.x.e`, `${base}.x.shape`]));
    // One conv per (z, y) parity, its pads putting coarse neighbours (j−1, j) or (j, j+1) under its taps.
    const parts: string[] = [];
    for (let p = 0; p < 4; p++) {
      const [pz, py] = [p >> 1, p & 1];
      added.push(floatTensor(`${base}.p${p}.w`, [cout, cu, 2, 2, 3], parityKernel(w, cout, cin, cu, pz, py)));
      parts.push(`${base}.p${p}`);
      nodes.push(node('Conv', parts[p], [`${base}.x`, `${base}.p${p}.w`], { kernel_shape: [2, 2, 3], pads: [1 - pz, 1 - py, 1, pz, py, 1] }));
    }
    // [N, 4C, D, H, 2W] → [N, 2, 2, C, D, H, 2W] → [N, C, D, 2, H, 2, 2W] → [N, C, 2D, 2H, 2W]
    nodes.push(node('Concat', `${base}.cat`, parts, { axis: 1 }));
    added.push(int64Tensor(`${base}.n.s`, [0]), int64Tensor(`${base}.n.e`, [1]), int64Tensor(`${base}.dhw.s`, [2]), int64Tensor(`${base}.dhw.e`, [5]));
    nodes.push(node('Slice', `${base}.n`, [shape, `${base}.n.s`, `${base}.n.e`]));
    nodes.push(node('Slice', `${base}.dhw`, [shape, `${base}.dhw.s`, `${base}.dhw.e`]));
    added.push(int64Tensor(`${base}.split`, [2, 2, cout]), int64Tensor(`${base}.x2`, [1, 1, 2]), int64Tensor(`${base}.c`, [cout]), int64Tensor(`${base}.x222`, [2, 2, 2]));
    nodes.push(node('Mul', `${base}.dhw2`, [`${base}.dhw`, `${base}.x2`]));
    nodes.push(node('Concat', `${base}.split.shape`, [`${base}.n`, `${base}.split`, `${base}.dhw2`], { axis: 0 }));
    nodes.push(node('Reshape', `${base}.split.r`, [`${base}.cat`, `${base}.split.shape`]));
    nodes.push(node('Transpose', `${base}.t`, [`${base}.split.r`], { perm: [0, 3, 4, 1, 5, 2, 6] }));
    nodes.push(node('Mul', `${base}.fine`, [`${base}.dhw`, `${base}.x222`]));
    nodes.push(node('Concat', `${base}.up.shape`, [`${base}.n`, `${base}.c`, `${base}.fine`], { axis: 0 }));
    nodes.push(node('Reshape', `${base}.up`, [`${base}.t`, `${base}.up.shape`]));
    // The skip's part of the conv, with the conv's bias, and the sum under the conv's output name.
    const wSkip = new Float32Array(cout * cs * 27);
    for (let o = 0; o < cout; o++) wSkip.set(w.subarray((o * cin + cu) * 27, (o * cin + cin) * 27), o * cs * 27);
    added.push(floatTensor(`${base}.skip.w`, [cout, cs, 3, 3, 3], wSkip));
    nodes.push(onnx.NodeProto.create({ opType: 'Conv', name: `${base}.skip`, input: [skip, `${base}.skip.w`, ...(conv.input ?? []).slice(2)], output: [`${base}.skip`], attribute: conv.attribute }));
    nodes.push(onnx.NodeProto.create({ opType: 'Add', name: out, input: [`${base}.up`, `${base}.skip`], output: [out] }));
    replace.set(conv, nodes);
    for (const n of [concat, reshape, expand, unsq]) drop.add(n);
    // The repeat's target shape (Shape → Mul) goes too when nothing else reads it.
    const shapeSrc = producer.get(shapeName);
    if (shapeSrc && only(shapeName) === reshape) {
      drop.add(shapeSrc);
      for (const i of shapeSrc.input ?? []) {
        const p = producer.get(i);
        if (p?.opType === 'Shape' && only(i) === shapeSrc) drop.add(p);
      }
    }
    rewritten++;
  }
  // The class softmax (axis 1) as Exp(x − max) / sum — ReduceMax's axes are an attribute and
  // ReduceSum's an input in opsets 13–17 only.
  const opset = Number((model.opsetImport ?? []).find((o) => !o.domain)?.version ?? 0);
  for (const sm of opset >= 13 && opset <= 17 ? graph.node : []) {
    if (sm.opType !== 'Softmax' || intAttr(sm, 'axis') !== 1 || (sm.input ?? []).length !== 1) continue;
    const x = (sm.input ?? [])[0];
    const out = (sm.output ?? [])[0];
    const base = `${out}.softmax`;
    added.push(int64Tensor(`${base}.axes`, [1]));
    replace.set(sm, [
      node('ReduceMax', `${base}.max`, [x], { axes: [1], keepdims: 1 }),
      node('Sub', `${base}.sub`, [x, `${base}.max`]),
      node('Exp', `${base}.exp`, [`${base}.sub`]),
      node('ReduceSum', `${base}.sum`, [`${base}.exp`, `${base}.axes`], { keepdims: 1 }),
      onnx.NodeProto.create({ opType: 'Div', name: out, input: [`${base}.exp`, `${base}.sum`], output: [out] }),
    ]);
    rewritten++;
  }
  if (!rewritten) return { bytes, rewritten: 0 };
  graph.node = graph.node.flatMap((n) => replace.get(n) ?? (drop.has(n) ? [] : [n]));
  const used = new Set(graph.node.flatMap((n) => n.input ?? []));
  graph.initializer = [...(graph.initializer ?? []).filter((t) => used.has(t.name ?? '')), ...added];
  return { bytes: onnx.ModelProto.encode(model).finish(), rewritten };
}

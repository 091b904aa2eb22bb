/**
 * Polychromatic combine kernel: out[r] = −ln Σ_E w_E exp(−Σ_m µ[E][m]·L_m[r]) for r in [start, end).
 * A separate small module so worker threads load it without the projector.
 */
export interface PolyTask {
  /** Path lengths (µm), one array per material, same length. */
  L: Float32Array[];
  /** µ (1/µm) flattened [energy][material]. */
  muEM: Float64Array;
  weights: Float64Array;
  out: Float32Array;
  start: number;
  end: number;
}

export function polyCombine(t: PolyTask): number {
  const nM = t.L.length;
  const nE = t.weights.length;
  const { muEM, weights: w, out } = t;
  const L = new Float64Array(nM);
  for (let r = t.start; r < t.end; r++) {
    let any = false;
    for (let m = 0; m < nM; m++) {
      L[m] = t.L[m][r];
      if (L[m] !== 0) any = true;
    }
    if (!any) {
      out[r] = 0;
      continue;
    }
    let T = 0;
    for (let e = 0; e < nE; e++) {
      let a = 0;
      const o = e * nM;
      for (let m = 0; m < nM; m++) a += muEM[o + m] * L[m];
      T += w[e] * Math.exp(-a);
    }
    out[r] = T > 0 ? -Math.log(T) : Infinity;
  }
  return t.end - t.start;
}

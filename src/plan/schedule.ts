/**
 * Session scheduling: the time budget, the order of the sites, and which sites fit.
 *
 * Each site is one block (move, mill coarse → fine, image, EDS, SIMS); its ladder always runs from
 * the rough current down to the SIMS current, so the number of current changes is fixed per site
 * and the order only changes stage travel. The order is a nearest-neighbour tour from the start
 * position improved by 2-opt (an open path: the session does not return). Sites are admitted best
 * score first; the lowest-ranked sites that do not fit the budget are dropped, and the plan says so.
 */
import { NanoroiError } from '../core/errors.js';
import type { Vec3 } from './linalg.js';

/** Parse a time budget: "8h", "90m", "1h30m", "45s", "1.5h", "2h15m30s" or plain seconds ("3600"). */
export function parseBudget(text: string): number {
  const t = String(text).trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(t)) {
    const v = Number(t);
    if (v > 0) return v;
  }
  const re = /(\d+(?:\.\d+)?)\s*(h|m|s)/g;
  let total = 0;
  let consumed = '';
  let m: RegExpExecArray | null;
  while ((m = re.exec(t))) {
    total += Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
    consumed += m[0];
  }
  if (!(total > 0) || consumed.replace(/\s/g, '') !== t.replace(/\s/g, ''))
    throw new NanoroiError('E_ARGS', `cannot read the time budget "${text}"; write e.g. 8h, 90m, 1h30m or a number of seconds`);
  return total;
}

export const dist3 = (a: Vec3, b: Vec3): number => Math.hypot(a.x - b.x, a.y - b.y, a.z - b.z);

/** Length of the open path start → p[order[0]] → p[order[1]] → … */
export function pathLength(start: Vec3, pts: Vec3[], order: number[]): number {
  let len = 0;
  let cur = start;
  for (const i of order) {
    len += dist3(cur, pts[i]);
    cur = pts[i];
  }
  return len;
}

/** Nearest-neighbour tour from `start`, then 2-opt until no reversal shortens the open path. */
export function orderSites(start: Vec3, pts: Vec3[]): number[] {
  const n = pts.length;
  const left = new Set(pts.map((_, i) => i));
  const order: number[] = [];
  let cur = start;
  while (left.size) {
    let best = -1;
    let bd = Infinity;
    for (const i of left) {
      const d = dist3(cur, pts[i]);
      if (d < bd - 1e-12 || (Math.abs(d - bd) <= 1e-12 && i < best)) {
        bd = d;
        best = i;
      }
    }
    order.push(best);
    left.delete(best);
    cur = pts[best];
  }
  // 2-opt on the open path: reversing order[i..j] changes only the edges into i and out of j
  const at = (k: number) => (k < 0 ? start : pts[order[k]]);
  let improved = true;
  for (let pass = 0; improved && pass < 100; pass++) {
    improved = false;
    for (let i = 0; i < n - 1; i++) {
      for (let j = i + 1; j < n; j++) {
        const before = dist3(at(i - 1), at(i)) + (j + 1 < n ? dist3(at(j), at(j + 1)) : 0);
        const after = dist3(at(i - 1), at(j)) + (j + 1 < n ? dist3(at(i), at(j + 1)) : 0);
        if (after < before - 1e-9) {
          order.splice(i, j - i + 1, ...order.slice(i, j + 1).reverse());
          improved = true;
        }
      }
    }
  }
  return order;
}

export interface Candidate {
  siteId: number;
  score: number;
  /** Time of the site's own steps (mill, image, EDS, SIMS, current changes), s. */
  blockTime_s: number;
  /** Stage position of the site's first move. */
  position: Vec3;
}

export interface Selection {
  order: number[]; // indices into candidates, in session order
  dropped: { index: number; reason: string }[];
  totalTime_s: number;
}

/**
 * Pick the sites that fit `budget_s` (null: all), best score first, and order them.
 * `moveTime(d)` is the time of a stage move of length d.
 */
export function selectAndOrder(
  start: Vec3,
  cands: Candidate[],
  budget_s: number | null,
  moveTime: (d: number) => number,
  formatTime: (s: number) => string,
  /** Keep the candidates' own order (serial sectioning: shallowest first) instead of the shortest tour. */
  fixedOrder = false,
): Selection {
  const byScore = cands.map((_, i) => i).sort((a, b) => cands[b].score - cands[a].score || cands[a].siteId - cands[b].siteId);
  const timeOf = (idx: number[]): { order: number[]; total: number } => {
    const o = fixedOrder ? [...idx].sort((a, b) => a - b) : orderSites(start, idx.map((i) => cands[i].position)).map((k) => idx[k]);
    let total = 0;
    let cur = start;
    for (const i of o) {
      total += moveTime(dist3(cur, cands[i].position)) + cands[i].blockTime_s;
      cur = cands[i].position;
    }
    return { order: o, total };
  };
  if (budget_s === null) {
    const r = timeOf(byScore);
    return { order: r.order, dropped: [], totalTime_s: r.total };
  }
  const chosen: number[] = [];
  const dropped: { index: number; reason: string }[] = [];
  let best = { order: [] as number[], total: 0 };
  for (const i of byScore) {
    const r = timeOf([...chosen, i]);
    if (r.total <= budget_s) {
      chosen.push(i);
      best = r;
    } else {
      dropped.push({
        index: i,
        reason: `does not fit the ${formatTime(budget_s)} budget (needs ${formatTime(cands[i].blockTime_s)} plus travel; ${formatTime(Math.max(0, budget_s - best.total))} left)`,
      });
    }
  }
  if (!chosen.length) {
    const cheapest = cands.reduce((a, b) => (b.blockTime_s < a.blockTime_s ? b : a));
    throw new NanoroiError(
      'E_LIMITS',
      `the ${formatTime(budget_s)} budget is too small for any site: the quickest, site ${cheapest.siteId}, needs ${formatTime(cheapest.blockTime_s + moveTime(dist3(start, cheapest.position)))}`,
    );
  }
  return { order: best.order, dropped, totalTime_s: best.total };
}

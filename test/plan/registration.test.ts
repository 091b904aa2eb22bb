import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/core/rng.js';
import { apply3, det3, mul3, rotZYX, svd3, transpose3, type Mat3 } from '../../src/plan/linalg.js';
import { ctToStage, defaultRegistration, registrationFromFile, stageToCt, umeyama } from '../../src/plan/registration.js';
import { millingAngleForStageTilt, stageTiltForMillingAngle } from '../../src/plan/config.js';

const pose = { r_deg: 0, t_deg: 52 };

describe('svd3', () => {
  it('reconstructs full-rank and rank-2 matrices with orthonormal factors', () => {
    const rng = new Rng(1);
    for (let k = 0; k < 50; k++) {
      const A = Array.from({ length: 9 }, () => rng.normal()) as Mat3;
      if (k % 5 === 0) for (let i = 0; i < 3; i++) A[i * 3 + 2] = A[i * 3] + 2 * A[i * 3 + 1]; // rank 2
      const { U, S, V } = svd3(A);
      const R = mul3(mul3(U, [S[0], 0, 0, 0, S[1], 0, 0, 0, S[2]]), transpose3(V));
      for (let i = 0; i < 9; i++) expect(Math.abs(R[i] - A[i])).toBeLessThan(1e-12);
      expect(S[0]).toBeGreaterThanOrEqual(S[1]);
      expect(S[1]).toBeGreaterThanOrEqual(S[2]);
      const UtU = mul3(transpose3(U), U);
      for (let i = 0; i < 9; i++) expect(Math.abs(UtU[i] - (i % 4 === 0 ? 1 : 0))).toBeLessThan(1e-12);
      if (k % 5 === 0) expect(S[2]).toBeLessThan(1e-12);
    }
  });
});

describe('Umeyama registration', () => {
  const R = rotZYX(37, -12, 5);
  const t = { x: 12345.6, y: -2345.7, z: 4012.3 };
  const truth = (p: { x: number; y: number; z: number }, s = 1) => {
    const q = apply3(R, p);
    return { x: s * q.x + t.x, y: s * q.y + t.y, z: s * q.z + t.z };
  };

  it('recovers a rigid transform exactly and round-trips CT → stage → CT within 1 nm', () => {
    const rng = new Rng(2);
    const ct = Array.from({ length: 6 }, () => ({ x: rng.uniform(-20, 20), y: rng.uniform(-20, 20), z: rng.uniform(0, 20) }));
    const reg = registrationFromFile({ schemaVersion: 1, mode: 'rigid', fiducials: ct.map((p) => ({ ct_um: p, stage_um: truth(p) })) }, pose, 0.2);
    expect(reg.rms_um!).toBeLessThan(1e-9);
    expect(reg.warnings).toEqual([]);
    let worst = 0;
    for (let i = 0; i < 1000; i++) {
      const p = { x: rng.uniform(-30, 30), y: rng.uniform(-30, 30), z: rng.uniform(-5, 25) };
      const s = ctToStage(reg, p);
      const e = truth(p);
      expect(Math.hypot(s.x - e.x, s.y - e.y, s.z - e.z)).toBeLessThan(1e-3);
      const back = stageToCt(reg, s);
      worst = Math.max(worst, Math.hypot(back.x - p.x, back.y - p.y, back.z - p.z));
    }
    expect(worst).toBeLessThan(1e-3); // 1 nm
  });

  it('works with coplanar fiducials (all on the pillar top) and recovers a similarity scale', () => {
    const rng = new Rng(3);
    const ct = Array.from({ length: 4 }, () => ({ x: rng.uniform(-15, 15), y: rng.uniform(-15, 15), z: 20 }));
    const r = umeyama(ct, ct.map((p) => truth(p, 1.03)), true);
    expect(r.scale).toBeCloseTo(1.03, 10);
    for (let i = 0; i < 9; i++) expect(r.R[i]).toBeCloseTo(R[i], 10);
    expect(det3(r.R)).toBeCloseTo(1, 12);
  });

  it('from noisy fiducials: the expected rms residual σ·√((3n−6)/n) and a close transform', () => {
    const rng = new Rng(4);
    const n = 200;
    const sigma = 0.05;
    const ct = Array.from({ length: n }, () => ({ x: rng.uniform(-20, 20), y: rng.uniform(-20, 20), z: rng.uniform(0, 20) }));
    const stage = ct.map((p) => {
      const q = truth(p);
      return { x: q.x + rng.normal(0, sigma), y: q.y + rng.normal(0, sigma), z: q.z + rng.normal(0, sigma) };
    });
    const reg = registrationFromFile({ schemaVersion: 1, mode: 'rigid', fiducials: ct.map((p, i) => ({ ct_um: p, stage_um: stage[i] })) }, pose, 0.5);
    const expected = sigma * Math.sqrt((3 * n - 6) / n);
    expect(reg.rms_um!).toBeGreaterThan(0.9 * expected);
    expect(reg.rms_um!).toBeLessThan(1.1 * expected);
    const p = { x: 5, y: -3, z: 10 };
    const s = ctToStage(reg, p);
    const e = truth(p);
    expect(Math.hypot(s.x - e.x, s.y - e.y, s.z - e.z)).toBeLessThan(0.02);
  });

  it('warns about the fiducial that misses, by name', () => {
    const ct = [
      { x: 0, y: 0, z: 20 },
      { x: 10, y: 0, z: 20 },
      { x: 0, y: 10, z: 20 },
      { x: 10, y: 10, z: 15 },
      { x: -8, y: 4, z: 12 },
    ];
    const fids = ct.map((p, i) => ({ name: `F${i}`, ct_um: p, stage_um: truth(p) }));
    fids[3].stage_um = { ...fids[3].stage_um, x: fids[3].stage_um.x + 2 };
    const reg = registrationFromFile({ schemaVersion: 1, mode: 'rigid', fiducials: fids }, pose, 0.2);
    expect(reg.warnings.some((w) => w.startsWith('fiducial F3 misses'))).toBe(true);
    const worst = reg.fiducials!.reduce((a, b) => (b.residual_um > a.residual_um ? b : a));
    expect(worst.name).toBe('F3');
  });

  it('refuses collinear fiducials', () => {
    const ct = [0, 1, 2, 3].map((k) => ({ x: k, y: 2 * k, z: 0 }));
    expect(() => umeyama(ct, ct.map((p) => truth(p)), false)).toThrow(/one line/);
  });
});

describe('default registration and angles', () => {
  it('puts the pillar top at the given stage position and rotates about z', () => {
    const reg = defaultRegistration(20, { x: 1, y: 2 }, { x: 1000, y: 2000, z: 4000 }, 90, pose);
    const top = ctToStage(reg, { x: 1, y: 2, z: 20 });
    expect(top.x).toBeCloseTo(1000, 9);
    expect(top.y).toBeCloseTo(2000, 9);
    expect(top.z).toBeCloseTo(4000, 9);
    const px = ctToStage(reg, { x: 4, y: 2, z: 18.5 }); // 3 µm along CT +x, 1.5 µm below the top
    expect(px.x).toBeCloseTo(1000, 9);
    expect(px.y).toBeCloseTo(2003, 9);
    expect(px.z).toBeCloseTo(3998.5, 9);
  });

  it('refuses an unregistered volume, naming what is missing', () => {
    expect(() => defaultRegistration(20, undefined, undefined, 0, pose)).toThrow(/not registered.*pillarAxis_um.*pillarTopStage_um/);
  });

  it('milling angle = 90 − column tilt + stage tilt − pre-tilt (OpenFIBSEM)', () => {
    expect(stageTiltForMillingAngle(90, 52, 0)).toBe(52);
    expect(stageTiltForMillingAngle(15, 52, 35)).toBe(12);
    expect(millingAngleForStageTilt(12, 52, 35)).toBe(15);
  });
});

/** The worker-pool paths (compiled kernels in dist/) give the same answers as the in-thread ones. */
import { afterAll, describe, expect, it } from 'vitest';
import { labelComponents } from '../../src/roi/components.js';
import { distanceTransform } from '../../src/roi/edt.js';
import { getPool } from '../../src/core/pool.js';
import { Rng } from '../../src/core/rng.js';
import type { Vec3 } from '../../src/core/volume.js';

afterAll(async () => {
  await getPool().close();
});

describe('parallel kernels', () => {
  const shape: Vec3 = [40, 48, 52];
  const rng = new Rng(11);
  const d = new Uint8Array(shape[0] * shape[1] * shape[2]);
  for (let i = 0; i < d.length; i++) if (rng.next() < 0.45) d[i] = 1 + (rng.next() < 0.5 ? 1 : 0);

  it('labelComponents on 2 workers equals the serial result', async () => {
    const serial = await labelComponents(d, shape, { threads: 0, spacing_um: [1, 2, 3] });
    const par = await labelComponents(d, shape, { threads: 2, slabDepth: 3, spacing_um: [1, 2, 3] });
    expect(par.count).toBe(serial.count);
    expect(Buffer.compare(Buffer.from(par.labels.buffer as ArrayBuffer), Buffer.from(serial.labels.buffer))).toBe(0);
    for (let k = 0; k < serial.table.acc.length; k++) expect(par.table.acc[k]).toBeCloseTo(serial.table.acc[k], 6);
    expect(Array.from(par.table.bbox)).toEqual(Array.from(serial.table.bbox));
  });

  it('distanceTransform on 2 workers equals the serial result', async () => {
    const sp: Vec3 = [0.3, 0.2, 0.1];
    const a = await distanceTransform(d, shape, sp, { threads: 0 });
    const b = await distanceTransform(d, shape, sp, { threads: 2 });
    expect(Buffer.compare(Buffer.from(a.buffer), Buffer.from(b.buffer as ArrayBuffer))).toBe(0);
  });
});

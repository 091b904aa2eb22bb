import { describe, expect, it } from 'vitest';
import { NanoroiError } from '../../src/core/errors.js';
import type { Vec3, Volume } from '../../src/core/volume.js';
import { medianOf, mediansOf, postprocessLabels } from '../../src/segment/postprocess.js';
import { Rng } from '../../src/core/rng.js';

/** 40³ voxels of 50 nm: a particle slab (z 10–29) in vacuum; defects drawn into it. */
function scene(): { vol: Volume<Uint8Array>; set: (z0: number, z1: number, y0: number, y1: number, x0: number, x1: number, v: number) => void } {
  const shape: Vec3 = [40, 40, 40];
  const data = new Uint8Array(40 * 40 * 40);
  const set = (z0: number, z1: number, y0: number, y1: number, x0: number, x1: number, v: number) => {
    for (let z = z0; z < z1; z++) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) data[(z * 40 + y) * 40 + x] = v;
  };
  set(10, 30, 0, 40, 0, 40, 1);
  return { vol: { data, shape, spacing_um: [0.05, 0.05, 0.05], origin_um: [0, 0, 0] }, set };
}

const count = (d: Uint8Array, v: number) => d.reduce((a, x) => a + (x === v ? 1 : 0), 0);

describe('post-processing of model labels', () => {
  it('keeps a pore inside a particle and a through crack; removes a streak in vacuum and a speck', async () => {
    const { vol, set } = scene();
    set(18, 22, 18, 22, 18, 22, 2); // pore 4³ = 64 voxels, fully wrapped in particle
    set(12, 28, 5, 6, 0, 40, 3); // crack sheet across the slab, leaves the field on two sides
    set(2, 4, 2, 12, 2, 12, 3); // "crack" in the vacuum below the slab: 200 voxels, wrap 0
    set(33, 36, 30, 33, 30, 33, 2); // "pore" in the vacuum above: 27 voxels
    set(25, 26, 30, 31, 30, 31, 2); // one-voxel pore speck inside the particle (< 8 voxels)
    const { labels, stats } = await postprocessLabels(vol);
    const d = labels.data;
    expect(count(d, 2)).toBe(64);
    expect(count(d, 3)).toBe(16 * 40);
    expect(stats.crack).toEqual({ components: 2, removedSmall: 0, removedUnwrapped: 1, voxelsRemoved: 200 });
    expect(stats.micropore).toEqual({ components: 3, removedSmall: 1, removedUnwrapped: 1, voxelsRemoved: 28 });
    // Removed voxels take the label their rim mostly has: vacuum stays vacuum, the speck turns particle.
    expect(d[(3 * 40 + 5) * 40 + 5]).toBe(0);
    expect(d[(34 * 40 + 31) * 40 + 31]).toBe(0);
    expect(d[(25 * 40 + 30) * 40 + 30]).toBe(1);
    // The input is not modified.
    expect(count(vol.data, 3)).toBe(16 * 40 + 200);
  });

  it('a sealed "background" core of a pore or a wide crack joins it; a binder pocket and open background stay', async () => {
    const { vol, set } = scene();
    // Pore: 8³ block of micropore around a 4³ core the network called vacuum.
    set(12, 20, 2, 10, 2, 10, 2);
    set(14, 18, 4, 8, 4, 8, 0);
    // Wide crack: a 3-voxel sheet with a 1-voxel "vacuum" middle (sealed inside the slab).
    set(12, 28, 20, 23, 5, 15, 3);
    set(13, 27, 21, 22, 6, 14, 0);
    // Binder pocket: 3³ background inside particle only.
    set(20, 23, 30, 33, 30, 33, 0);
    // A pit open to the vacuum above the slab, rimmed by micropore: not sealed, stays.
    set(26, 30, 30, 36, 2, 8, 2);
    set(27, 30, 31, 35, 3, 7, 0);
    const { labels, stats } = await postprocessLabels(vol, { minWrap: { micropore: 0, crack: 0 } });
    const d = labels.data;
    const at = (z: number, y: number, x: number) => d[(z * 40 + y) * 40 + x];
    expect(at(15, 5, 5)).toBe(2); // pore core → micropore
    expect(at(20, 21, 10)).toBe(3); // crack middle → crack
    expect(at(21, 31, 31)).toBe(0); // binder pocket stays
    expect(at(28, 32, 4)).toBe(0); // open pit stays background
    expect(stats.pockets).toEqual({ micropore: 1, crack: 1, voxels: 64 + 14 * 8 });
    // The filled pore is wrapped in particle: kept whole under the default wrap test.
    const def = await postprocessLabels(vol);
    expect(count(def.labels.data.subarray(0, 22 * 1600), 2)).toBe(8 ** 3);
    // Off: the core stays background.
    const off = await postprocessLabels(vol, { pockets: null, minWrap: { micropore: 0, crack: 0 } });
    expect(off.labels.data[(15 * 40 + 5) * 40 + 5]).toBe(0);
    expect(off.stats.pockets).toEqual({ micropore: 0, crack: 0, voxels: 0 });
  });

  it('poreCracks: a crack piece hugging a micropore joins it; a crack that only touches a pore stays', async () => {
    const { vol, set } = scene();
    set(16, 22, 4, 10, 4, 10, 2); // pore 6³
    set(16, 22, 10, 11, 4, 10, 3); // its flattened end, called crack: a 6×6 sheet on the pore's face
    set(12, 28, 30, 31, 0, 40, 3); // a long crack across the slab…
    set(18, 21, 27, 30, 18, 21, 2); // …touched by a small pore beside it (3³)
    const on = await postprocessLabels(vol, { poreCracks: { minPoreRim: 0.2 } });
    expect(on.stats.poreCracks).toEqual({ components: 1, voxels: 36 });
    const d = on.labels.data;
    expect(d[(18 * 40 + 10) * 40 + 6]).toBe(2);
    expect(count(d, 3)).toBe(16 * 40);
    expect(count(d, 2)).toBe(6 ** 3 + 36 + 27);
    // On by default; null turns it off.
    expect((await postprocessLabels(vol)).stats.poreCracks).toEqual({ components: 1, voxels: 36 });
    expect((await postprocessLabels(vol, { poreCracks: null })).stats.poreCracks).toEqual({ components: 0, voxels: 0 });
  });

  it('a crack along the particle surface (half its rim vacuum) goes at minWrap 0.6, stays at 0.4', async () => {
    const { vol, set } = scene();
    set(29, 30, 10, 30, 10, 30, 3); // top layer of the slab: rim is particle below, vacuum above
    expect((await postprocessLabels(vol)).stats.crack.removedUnwrapped).toBe(0);
    const strict = await postprocessLabels(vol, { minWrap: { crack: 0.6 } });
    expect(strict.stats.crack.removedUnwrapped).toBe(1);
    // rim: 400 below (particle) + 400 above (vacuum) + 80 sides (particle) → 480/880 particle → particle
    expect(count(strict.labels.data, 3)).toBe(0);
    expect(strict.labels.data[(29 * 40 + 20) * 40 + 20]).toBe(1);
  });

  it('the volume border counts as unwrapped rim; minimum sizes are in µm³', async () => {
    const { vol, set } = scene();
    set(15, 25, 0, 3, 0, 3, 2); // pore in the particle's corner at the field's edge: 90 voxels
    // rim: x = 3 and y = 3 faces 30 + 30, z faces 9 + 9 particle; x = 0 and y = 0 faces 30 + 30 on
    // the border → wrap 78/138 = 0.565
    const r = await postprocessLabels(vol, { minWrap: { micropore: 0.57 } });
    expect(r.stats.micropore.removedUnwrapped).toBe(1);
    const big = await postprocessLabels(vol, { minWrap: { micropore: 0.56 }, minVolume_um3: { micropore: 91 * 0.05 ** 3 } });
    expect(big.stats.micropore.removedSmall).toBe(1);
    const keep = await postprocessLabels(vol, { minWrap: { micropore: 0.56 }, minVolume_um3: { micropore: 90 * 0.05 ** 3 } });
    expect(keep.stats.micropore.removedSmall).toBe(0);
    expect(keep.stats.micropore.removedUnwrapped).toBe(0);
  });

  it('drops foreground apart from the sample: a "particle" with a "pore" in a vacuum corner', async () => {
    const { vol, set } = scene();
    set(0, 4, 0, 6, 0, 6, 1); // 144 voxels of "particle", 6 voxels (0.3 µm) below the slab…
    set(1, 3, 1, 3, 1, 3, 2); // …holding an 8-voxel "pore"
    const near = await postprocessLabels(vol); // gap 0.5 µm: one body with the slab; the pore is wrapped
    expect(near.stats.outsideSample).toEqual({ bodies: 1, removedBodies: 0, voxelsRemoved: 0 });
    expect(count(near.labels.data, 2)).toBe(8);
    const far = await postprocessLabels(vol, { sampleGap_um: 0.25 });
    expect(far.stats.outsideSample).toEqual({ bodies: 2, removedBodies: 1, voxelsRemoved: 144 });
    expect(count(far.labels.data, 2)).toBe(0);
    expect(count(far.labels.data, 1)).toBe(20 * 40 * 40);
    expect((await postprocessLabels(vol, { sampleGap_um: null })).stats.outsideSample.bodies).toBe(0);
    // A body at least minBodyShare of the largest stays.
    expect((await postprocessLabels(vol, { sampleGap_um: 0.25, minBodyShare: 0 })).stats.outsideSample.removedBodies).toBe(0);
  });

  it('with the grey volume: "particle" as dark as the background becomes background; pores stay', async () => {
    const { vol, set } = scene();
    const grey = new Float32Array(40 ** 3);
    for (let i = 0; i < grey.length; i++) grey[i] = vol.data[i] === 1 ? 1 : 0.1 * ((i * 7919) % 13) / 13; // slab bright, vacuum dim
    set(18, 22, 18, 22, 18, 22, 2); // a pore in the slab (dark grey 0 there)
    for (let z = 18; z < 22; z++) for (let y = 18; y < 22; y++) for (let x = 18; x < 22; x++) grey[(z * 40 + y) * 40 + x] = 0;
    set(0, 6, 30, 40, 30, 40, 1); // smooth vacuum called "particle" in a corner, touching the slab's gap distance
    const r = await postprocessLabels(vol, {}, grey);
    expect(r.stats.dimParticle).toBe(6 * 10 * 10);
    expect(count(r.labels.data, 1)).toBe(20 * 40 * 40 - 64);
    expect(count(r.labels.data, 2)).toBe(64);
    // Off on request, and without a grey volume.
    expect((await postprocessLabels(vol, { minParticleContrast: null }, grey)).stats.dimParticle).toBe(0);
    expect((await postprocessLabels(vol)).stats.dimParticle).toBe(0);
    await expect(postprocessLabels(vol, {}, new Float32Array(10))).rejects.toThrow(/grey volume has 10 voxels/);
  });

  it('refuses bad options with one message', async () => {
    const { vol } = scene();
    await expect(postprocessLabels(vol, { minWrap: { crack: 2 } })).rejects.toThrow(NanoroiError);
    await expect(postprocessLabels(vol, { minWrap: { crack: 2 } })).rejects.toThrow(/minWrap\.crack/);
  });
});

describe('medianOf (radix select)', () => {
  it('equals the (n >> 1)-th value of the sorted selection, negative, tied and same-bin values included', () => {
    const rng = new Rng(21);
    const cases: Float32Array[] = [
      Float32Array.from({ length: 5000 }, () => rng.normal(0, 3)),
      Float32Array.from({ length: 4001 }, () => 1 + rng.next() * 1e-4), // all in one 16-bit bin
      Float32Array.from({ length: 999 }, () => Math.round(rng.uniform(-3, 3))), // many ties, −0 and 0
      Float32Array.of(-7.5),
      Float32Array.from({ length: 300 }, () => rng.uniform(-1e6, 1e-6)),
    ];
    for (const grey of cases) {
      const labels = Uint8Array.from(grey, () => (rng.next() < 0.6 ? 1 : 0));
      labels[0] = 1;
      for (const cls of [0, 1]) {
        const sel = Float64Array.from(grey.filter((_, i) => labels[i] === cls)).sort();
        const got = medianOf(grey, labels, cls);
        // === so that −0 and 0 count as the same value
        if (sel.length === 0) expect(got).toBeNaN();
        else expect(got === sel[sel.length >> 1], `${got} vs ${sel[sel.length >> 1]}`).toBe(true);
      }
      // Several classes in one pass: the same values, in the order asked (a class never seen: NaN).
      const both = mediansOf(grey, labels, [1, 0, 3]);
      expect(Object.is(both[0], medianOf(grey, labels, 1)) || both[0] === medianOf(grey, labels, 1)).toBe(true);
      expect(both[1] === medianOf(grey, labels, 0) || (Number.isNaN(both[1]) && Number.isNaN(medianOf(grey, labels, 0)))).toBe(true);
      expect(both[2]).toBeNaN();
    }
    expect(medianOf(Float32Array.of(1, 2), Uint8Array.of(0, 0), 1)).toBeNaN();
  });
});

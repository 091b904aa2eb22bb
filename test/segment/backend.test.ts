import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { backendInfo, initBackend } from '../../src/segment/backend.js';
import { UNet } from '../../src/segment/unet.js';
import { diceCeLoss, oneHot5, LossSchema } from '../../src/segment/losses.js';
import { Adam, OptimizerSchema } from '../../src/segment/optim.js';
import { syntheticVolume } from './synthetic.js';

/** Three Adam steps of a small U-Net on one synthetic patch; returns the losses and final weights. */
function train3(): { losses: number[]; weights: Float32Array } {
  const s = syntheticVolume([16, 16, 16], 4);
  const img = s.image.map((v) => (v - 100) / 3);
  const net = new UNet({ depth: 2, baseFilters: 4, norm: 'group', groups: 2 }, 9);
  const names = net.trainableNames();
  const opt = new Adam(OptimizerSchema.parse({ lr: 3e-3 }), net.params, names);
  const map = new Map(names.map((n) => [net.p(n).name, n]));
  const x = tf.tensor5d(img, [1, 16, 16, 16, 1]);
  const y = oneHot5(s.labels, [1, 16, 16, 16]);
  const losses: number[] = [];
  for (let i = 0; i < 3; i++) {
    const { value, grads } = tf.variableGrads(() => diceCeLoss(net.forward(x, true), y, LossSchema.parse({})).total, names.map((n) => net.p(n)));
    losses.push(value.dataSync()[0]);
    opt.apply(new Map(Object.entries(grads).map(([k, g]) => [map.get(k)!, g])), 3e-3);
    tf.dispose([value, ...Object.values(grads)]);
  }
  const weights = Float32Array.from(net.p('enc0.conv0.w').dataSync());
  tf.dispose([x, y]);
  opt.dispose();
  net.dispose();
  return { losses, weights };
}

describe('tfjs backend selection', () => {
  it('auto picks wasm here (the native bindings are absent) and training gives the same numbers on the cpu fallback', async () => {
    const info = await initBackend('auto');
    expect(['wasm', 'tensorflow']).toContain(info.name);
    expect(backendInfo().name).toBe(info.name);
    const a = train3();
    await initBackend('cpu');
    expect(tf.getBackend()).toBe('cpu');
    const b = train3();
    for (let i = 0; i < 3; i++) expect(Math.abs(a.losses[i] - b.losses[i])).toBeLessThan(1e-4);
    let d = 0;
    for (let i = 0; i < a.weights.length; i++) d = Math.max(d, Math.abs(a.weights[i] - b.weights[i]));
    expect(d).toBeLessThan(1e-4);
    expect(b.losses[2]).toBeLessThan(b.losses[0]);
  });

  it('a forced backend that cannot start is a clear error', async () => {
    await expect(initBackend('tensorflow-gpu')).rejects.toThrow(/no tfjs backend could start/);
  });
});

/**
 * The tfjs U-Net as a sliding-window predictor (same contract as the onnxruntime one: NCDHW in,
 * NCDHW probabilities out). Used by the benchmark to compare the two runtimes on one model and by
 * tests; `nanoroi segment` runs ONNX.
 */
import * as tf from '@tensorflow/tfjs';
import type { WindowPredictor } from './infer.js';
import type { UNet } from './unet.js';

export function tfjsPredictor(model: UNet): WindowPredictor {
  return async (input, b, win) => {
    const probs = tf.tidy(() => model.predict(tf.tensor5d(input, [b, win[0], win[1], win[2], 1])));
    const p = (await probs.data()) as Float32Array;
    probs.dispose();
    const K = p.length / (b * win[0] * win[1] * win[2]);
    const wv = win[0] * win[1] * win[2];
    const out = new Float32Array(p.length);
    // NDHWC → NCDHW
    for (let j = 0; j < b; j++) {
      const base = j * wv * K;
      for (let i = 0; i < wv; i++) for (let k = 0; k < K; k++) out[base + k * wv + i] = p[base + i * K + k];
    }
    return out;
  };
}

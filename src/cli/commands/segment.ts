import type { CommandModule } from 'yargs';

interface SegmentArgs {
  volume: string;
  out: string;
  model?: string;
  method: string;
  probabilities?: string;
  tta?: boolean;
  overlap: number;
  window?: string;
  classScale?: string;
  postprocess: boolean;
}

export const command: CommandModule<object, SegmentArgs> = {
  command: 'segment <volume>',
  describe: 'label a reconstruction: 0 background, 1 particle, 2 micropore, 3 crack (3D U-Net via onnxruntime, or the classical baseline)',
  builder: (y) =>
    y
      .positional('volume', { type: 'string', demandOption: true, describe: 'reconstructed volume (.nrrd, .nhdr, .tif)' })
      .option('out', { type: 'string', demandOption: true, describe: 'label volume to write (.nrrd or .tif, uint8)' })
      .option('method', { type: 'string', choices: ['model', 'classical'], default: 'model', describe: 'U-Net model or classical baseline' })
      .option('model', { type: 'string', describe: 'ONNX model file, or the name of one in models/ (default: bundled, models/bundled.onnx)' })
      .option('probabilities', { type: 'string', describe: 'also write PROBS.nrrd (confidence of each voxel\'s predicted class, for propose --probabilities) and per-class PROBS.particle/.micropore/.crack.nrrd (float32)' })
      .option('tta', { type: 'boolean', describe: 'test-time augmentation: average the 8 mirrorings (8× slower); default: what the model recommends (the bundled model: on), --no-tta turns it off' })
      .option('overlap', { type: 'number', default: 0.25, describe: 'window overlap fraction, 0 ≤ overlap < 1 (0.5 as nnU-Net: best quality, 2–3× slower)' })
      .option('window', { type: 'string', describe: 'window size z,y,x (default: the model\'s inference window, else its training patch)' })
      .option('class-scale', { type: 'string', describe: 'per-class decision factors background,particle,micropore,crack: a voxel takes the class with the largest factor × probability (default: the model\'s, e.g. the bundled model\'s 1,1,0.5,1; 1,1,1,1 is the plain argmax)' })
      .option('postprocess', { type: 'boolean', default: true, describe: 'drop predicted micropores/cracks not wrapped in particle or below 0.001/0.005 µm³ (--no-postprocess: the raw network output)' }),
  handler: async (args) => {
    const { NanoroiError } = await import('../../core/errors.js');
    const { log } = await import('../../core/progress.js');
    const { readVolume, writeVolume } = await import('../../io/volume-file.js');
    const { defaultThreads } = await import('../../core/pool.js');
    if (!(args.overlap >= 0 && args.overlap < 1)) throw new NanoroiError('E_ARGS', `--overlap must be in [0, 1), got ${args.overlap}`);
    let window: [number, number, number] | undefined;
    if (args.window) {
      const w = args.window.split(',').map(Number);
      if (w.length !== 3 || !w.every((v) => Number.isInteger(v) && v > 0)) throw new NanoroiError('E_ARGS', `--window must be three positive integers z,y,x, got "${args.window}"`);
      window = w as [number, number, number];
    }
    let classScale: number[] | undefined;
    if (args.classScale !== undefined) {
      classScale = String(args.classScale).split(',').map(Number);
      if (classScale.length !== 4 || !classScale.every((v) => Number.isFinite(v) && v > 0)) throw new NanoroiError('E_ARGS', `--class-scale must be four positive numbers background,particle,micropore,crack, got "${args.classScale}"`);
    }
    if (args.method === 'classical' && (args.probabilities || args.tta || args.model || classScale)) {
      throw new NanoroiError('E_ARGS', '--probabilities, --tta, --model and --class-scale apply to --method model only');
    }
    const loaded = await readVolume(args.volume);
    const vol = loaded.volume;
    const { fieldOfViewFromKeyValues } = await import('../../segment/postprocess.js');
    // A nanoroi reconstruction says its field of view: nothing outside it is labelled.
    const fov = await fieldOfViewFromKeyValues(loaded.meta.keyValues);
    const t0 = performance.now();
    if (args.method === 'classical') {
      const { segmentClassical } = await import('../../segment/classical.js');
      const labels = await segmentClassical(vol, { fovRadius_um: fov });
      await writeVolume(args.out, labels, { gzip: true, content: 'nanoroi labels (classical): 0 background, 1 particle, 2 micropore, 3 crack' });
      log(`segmented ${vol.shape.join('×')} voxels (classical) in ${((performance.now() - t0) / 1000).toFixed(1)} s → ${args.out}`);
      return;
    }
    const { segmentWithModel, predictedClassConfidence } = await import('../../segment/infer.js');
    const r = await segmentWithModel(vol, { model: args.model, tta: args.tta, overlap: args.overlap, window, classScale, probabilities: Boolean(args.probabilities), threads: Math.max(1, defaultThreads()), postprocess: args.postprocess ? { fovRadius_um: fov } : false });
    const kv = { nanoroi_model: r.info.modelName, nanoroi_model_sha256: r.info.modelSha256, nanoroi_labels: '0 background, 1 particle, 2 micropore, 3 crack' };
    if (args.probabilities) {
      const stem = args.probabilities.replace(/\.(nrrd|nhdr|tif|tiff)$/i, '');
      const ext = /\.(tif|tiff)$/i.test(args.probabilities) ? '.tif' : '.nrrd';
      const names = ['background', 'particle', 'micropore', 'crack'];
      for (let k = 1; k < names.length; k++) {
        await writeVolume(`${stem}.${names[k]}${ext}`, { ...r.labels, data: r.probabilities![k] }, { keyValues: { ...kv, nanoroi_class: names[k] }, content: `nanoroi probability of ${names[k]}` });
      }
      // PROBS itself: each voxel's confidence in its predicted class — what `propose --probabilities` reads.
      await writeVolume(args.probabilities, { ...r.labels, data: predictedClassConfidence(r.labels.data, r.probabilities!) }, { keyValues: kv, content: 'nanoroi model confidence of the predicted class' });
    }
    await writeVolume(args.out, r.labels, { gzip: true, keyValues: kv, content: 'nanoroi labels: 0 background, 1 particle, 2 micropore, 3 crack' });
    const pp = r.info.postprocess;
    if (pp) {
      log(`post-processing dropped ${pp.micropore.removedSmall + pp.micropore.removedUnwrapped} of ${pp.micropore.components} micropore and ${pp.crack.removedSmall + pp.crack.removedUnwrapped} of ${pp.crack.components} crack components (too small, or not inside a particle)`);
      if (pp.pockets.voxels || pp.poreCracks.components) log(`post-processing joined ${pp.pockets.micropore + pp.pockets.crack} sealed dark pockets to the defect they border and ${pp.poreCracks.components} crack pieces to the micropore they hug`);
    }
    const total = r.labels.data.length;
    const pct = (k: number) => ((100 * r.info.counts[k]) / total).toFixed(k >= 2 ? 3 : 1);
    log(
      `segmented ${vol.shape.join('×')} voxels with ${r.info.modelName} (${r.info.windows} windows of ${r.info.window.join('×')}${r.info.tta ? ', TTA' : ''}) in ${r.info.seconds.toFixed(1)} s: particle ${pct(1)} %, micropore ${pct(2)} %, crack ${pct(3)} % → ${args.out}`,
    );
  },
};

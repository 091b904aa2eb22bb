import type { CommandModule } from 'yargs';

interface Args {
  input: string;
  out: string;
  labels?: string;
  at?: string;
  window?: string;
  'scale-bar'?: number;
  alpha?: number;
  'max-size'?: number;
}

function numberList(text: string, n: number, what: string, E: new (c: 'E_ARGS', m: string) => Error): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const vals = parts.map(Number);
  if (parts.length !== n || parts.some((p) => p === '') || vals.some((v) => !Number.isFinite(v))) {
    throw new E('E_ARGS', `${what} needs ${n} comma-separated numbers, got "${text}"`);
  }
  return vals;
}

export const command: CommandModule<object, Args> = {
  command: 'preview <input>',
  describe: 'write a PNG of three orthogonal slices (xy, xz, yz) with optional label overlay and scale bar',
  builder: (y) =>
    y
      .positional('input', { type: 'string', demandOption: true, describe: 'volume file (.nrrd, .nhdr, .tif)' })
      .option('out', { type: 'string', demandOption: true, describe: 'PNG file to write' })
      .option('labels', { type: 'string', describe: 'label volume of the same shape to overlay (1 particle, 2 micropore, 3 crack)' })
      .option('at', { type: 'string', describe: 'voxel x,y,z the slices pass through (default: the centre)' })
      .option('window', { type: 'string', describe: 'grey window as lo,hi percentiles (default 0.5,99.5)' })
      .option('scale-bar', { type: 'number', describe: 'scale bar length in µm (default: automatic; 0: none)' })
      .option('alpha', { type: 'number', describe: 'multiply label opacities (default 1)' })
      .option('max-size', { type: 'number', describe: 'largest panel side in pixels (default 512)' }),
  handler: async (args) => {
    const { NanoroiError } = await import('../../core/errors.js');
    const { readVolume } = await import('../../io/volume-file.js');
    const { writePreview } = await import('../../io/preview.js');
    const { log } = await import('../../core/progress.js');
    if (!/\.png$/i.test(args.out)) throw new NanoroiError('E_ARGS', `--out must name a .png file, got ${args.out}`);
    const opts: import('../../io/preview.js').PreviewOptions = {};
    if (args.at !== undefined) {
      const v = numberList(args.at, 3, '--at', NanoroiError);
      if (!v.every(Number.isInteger)) throw new NanoroiError('E_ARGS', `--at takes whole voxel indices x,y,z, got "${args.at}"`);
      opts.at = v as [number, number, number];
    }
    if (args.window !== undefined) {
      const [lo, hi] = numberList(args.window, 2, '--window', NanoroiError);
      opts.percentiles = [lo, hi];
    }
    if (args['scale-bar'] !== undefined) {
      const s = args['scale-bar'];
      if (!(Number.isFinite(s) && s >= 0)) throw new NanoroiError('E_ARGS', `--scale-bar must be a length in µm ≥ 0, got ${s}`);
      opts.scaleBar = s === 0 ? false : s;
    }
    if (args.alpha !== undefined) {
      if (!(Number.isFinite(args.alpha) && args.alpha >= 0)) throw new NanoroiError('E_ARGS', `--alpha must be ≥ 0, got ${args.alpha}`);
      opts.alpha = args.alpha;
    }
    if (args['max-size'] !== undefined) {
      const m = args['max-size'];
      if (!(Number.isInteger(m) && m >= 16)) throw new NanoroiError('E_ARGS', `--max-size must be a whole number of pixels ≥ 16, got ${m}`);
      opts.maxPanel = m;
    }
    const { volume } = await readVolume(args.input);
    if (args.labels !== undefined) opts.labels = (await readVolume(args.labels)).volume;
    const p = await writePreview(args.out, volume, opts);
    log(`wrote ${args.out} (${p.image.width}×${p.image.height} px, slices through x=${p.at[0]} y=${p.at[1]} z=${p.at[2]}, window ${+p.window.lo.toPrecision(4)}..${+p.window.hi.toPrecision(4)})`);
  },
};

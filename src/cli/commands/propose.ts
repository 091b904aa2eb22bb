import type { CommandModule } from 'yargs';

interface Args {
  labels: string;
  out: string;
  volume?: string;
  probabilities?: string;
  top?: number;
  csv?: string;
  images?: string;
  connectivity: number;
  resolution: number | undefined;
  'min-pore': number | undefined;
  'min-crack': number | undefined;
  'max-depth': number;
  'target-depth': number;
  fov: number;
  margin: number;
  'depth-spread': number;
  brighter: string;
  watershed: boolean;
  'keep-gaps': boolean;
  'drop-necks': boolean;
  'min-confidence'?: string;
  weights?: string;
  verifier: string;
  'verifier-threshold'?: number;
}

export const command: CommandModule<object, Args> = {
  command: 'propose <labels>',
  describe: 'find micropores and cracks in a label volume, measure and rank them as ROIs, group them into milling/SIMS sites',
  builder: (y) =>
    y
      .positional('labels', { type: 'string', demandOption: true, describe: 'label volume (.nrrd/.tif: 0 background, 1 particle, 2 micropore, 3 crack)' })
      .option('out', { type: 'string', demandOption: true, describe: 'ROI file to write (JSON)' })
      .option('volume', { type: 'string', describe: 'reconstructed grey volume on the same grid (host grey class, images)' })
      .option('probabilities', { type: 'string', describe: 'model probabilities: float32 max-probability volume, or per-class [C][z][y][x]' })
      .option('top', { type: 'number', describe: 'keep only the best N ROIs' })
      .option('csv', { type: 'string', describe: 'also write one CSV row per ROI' })
      .option('images', { type: 'string', describe: 'folder for one PNG per ROI (three slices through it, outline drawn)' })
      .option('connectivity', { type: 'number', default: 26, choices: [6, 18, 26], describe: 'voxel connectivity of micropores and cracks' })
      .option('resolution', { type: 'number', describe: 'the scan\'s resolution in µm (FWHM; nanoroi resolution measures it): micropores under 0.8 × it and shorter cracks are dropped' })
      .option('min-pore', { type: 'number', describe: 'drop micropores below this equivalent diameter in µm (default 0.8 × --resolution, else 2 voxels)' })
      .option('min-confidence', { type: 'string', describe: 'with --probabilities: drop ROIs of lower mean confidence, "micropore,crack" (default 0,0: off)' })
      .option('weights', { type: 'string', describe: 'ranking weights, any of "class=1,size=1,confidence=3,access=1,isolation=0.5" (the defaults; the score is their weighted mean)' })
      .option('min-crack', { type: 'number', describe: 'drop cracks shorter than this in µm (default the larger of 4 voxels and --resolution)' })
      .option('target-depth', { type: 'number', default: 1.5, describe: 'routine milling depth below the top, µm' })
      .option('max-depth', { type: 'number', default: 5, describe: 'deeper ROIs are penalised, µm' })
      .option('fov', { type: 'number', default: 20, describe: 'SIMS field of view for grouping ROIs into sites, µm' })
      .option('margin', { type: 'number', default: 1, describe: 'margin kept inside the field of view, µm' })
      .option('depth-spread', { type: 'number', default: 1, describe: 'largest depth range of the ROIs of one site, µm' })
      .option('brighter', { type: 'string', default: 'LCO', choices: ['LCO', 'NCA'], describe: 'name given to the brighter particles (CT grey only hints at chemistry)' })
      .option('watershed', { type: 'boolean', default: true, describe: 'split particles to find each ROI\'s host (--no-watershed skips it)' })
      .option('keep-gaps', { type: 'boolean', default: false, describe: 'keep "cracks" that are gaps between two touching particles (a different particle on each side); dropped by default' })
      .option('verifier', { type: 'string', default: 'auto', describe: 'crack verifier: auto (the installed one fitted on the labels\' model, named in their nanoroi_model key; needs --volume and --probabilities), none, or a .verifier.json file' })
      .option('verifier-threshold', { type: 'number', describe: 'drop cracks the verifier gives less than this probability of being real (default: the verifier\'s own, chosen to keep 99 % of real cracks; docs/rois.md has the trade)' })
      .option('drop-necks', { type: 'boolean', default: false, describe: 'also drop "cracks" that sit in a neck of the material (thinner than it on both sides: seams between touching particles) where the watershed sees one particle; off by default, as real cracks can sit in a neck too' }),
  handler: async (args) => {
    const { NanoroiError } = await import('../../core/errors.js');
    const { log } = await import('../../core/progress.js');
    const { proposeFiles } = await import('../../roi/propose-files.js');
    const positive = (v: number | undefined, name: string) => {
      if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new NanoroiError('E_ARGS', `--${name} must be a positive number, got ${v}`);
    };
    positive(args.resolution, 'resolution');
    positive(args['min-pore'], 'min-pore');
    positive(args['min-crack'], 'min-crack');
    positive(args['target-depth'], 'target-depth');
    positive(args['max-depth'], 'max-depth');
    positive(args.fov, 'fov');
    if (args.top !== undefined && !(Number.isInteger(args.top) && args.top > 0)) throw new NanoroiError('E_ARGS', `--top must be a positive whole number, got ${args.top}`);
    if (!(args.margin >= 0)) throw new NanoroiError('E_ARGS', `--margin must be ≥ 0, got ${args.margin}`);
    if (!(args['depth-spread'] >= 0)) throw new NanoroiError('E_ARGS', `--depth-spread must be ≥ 0, got ${args['depth-spread']}`);

    let minConfidence: { micropore: number; crack: number } | undefined;
    if (args['min-confidence'] !== undefined) {
      const v = String(args['min-confidence']).split(',').map((x) => Number(x.trim()));
      if (v.length !== 2 || !v.every((x) => x >= 0 && x <= 1)) throw new NanoroiError('E_ARGS', `--min-confidence must be two numbers in [0, 1], "micropore,crack", got "${args['min-confidence']}"`);
      minConfidence = { micropore: v[0], crack: v[1] };
    }
    const { parseRankWeights } = await import('../../roi/rank.js');
    const weights = args.weights !== undefined ? parseRankWeights(String(args.weights)) : undefined;
    const { file, dropped } = await proposeFiles({
      labels: args.labels,
      out: args.out,
      volume: args.volume,
      probabilities: args.probabilities,
      csv: args.csv,
      images: args.images,
      verifier: args.verifier,
      verifierThreshold: args['verifier-threshold'],
      options: {
        connectivity: args.connectivity as 6 | 18 | 26,
        resolution_um: args.resolution,
        minPoreDiameter_um: args['min-pore'],
        minCrackLength_um: args['min-crack'],
        targetDepth_um: args['target-depth'],
        maxDepth_um: args['max-depth'],
        maxFov_um: args.fov,
        margin_um: args.margin,
        maxDepthSpread_um: args['depth-spread'],
        top: args.top,
        brighterGrey: args.brighter as 'LCO' | 'NCA',
        watershed: args.watershed ? undefined : false,
        keepGaps: args['keep-gaps'],
        dropNecks: args['drop-necks'],
        ...(minConfidence ? { minConfidence } : {}),
        ...(weights ? { weights } : {}),
      },
    });
    const cracks = file.rois.filter((r) => r.class === 'crack').length;
    log(`${file.rois.length} ROIs (${cracks} cracks, ${file.rois.length - cracks} micropores) in ${file.sites.length} sites; ${dropped.belowResolution} components below the resolution dropped${dropped.lowConfidence ? `, ${dropped.lowConfidence} below the minimum model confidence` : ''}${dropped.interParticleGap ? `, ${dropped.interParticleGap} inter-particle gaps dropped` : ''}${dropped.particleNeck ? `, ${dropped.particleNeck} seams in particle necks dropped` : ''}${dropped.unverified ? `, ${dropped.unverified} cracks the verifier rejects dropped` : ''}`);
    if (file.rois[0]) log(`best: ${file.rois[0].reasons[0]} (score ${file.rois[0].score.toFixed(2)})`);
    log(`wrote ${args.out}`);
  },
};

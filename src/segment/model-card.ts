/**
 * Model card: what a model was trained on, how, on what machine, and how well it does on
 * held-out volumes — with the classical baseline scored on the same volumes beside it, so the
 * number means something. Written as `<model>.card.json` (machine-readable) and `<model>.card.md`.
 */
import { apertureBinLabel, confidenceBinLabel, type ApertureBin, type BestRois, type ConfidenceBin } from '../roi/score.js';
import type { EvalReport } from './eval.js';
import type { TrainConfig, TrainResult } from './train.js';

export interface HeldOutScore {
  dice: { particle: number | null; micropore: number | null; crack: number | null; defect: number | null };
  objects: {
    micropore: { recall: number | null; precision: number | null; f1: number | null };
    crack: { recall: number | null; precision: number | null; f1: number | null };
  };
  /**
   * Planted micropores larger than 0.3 µm (the issue's bar) and how many were found; present when
   * the sample has a truth.json. Pooled over samples in the mean, since a volume may hold only a few.
   */
  poresOver300nm?: { truth: number; detected: number; recall: number | null };
  /**
   * ROIs proposed from the labels (`nanoroi propose` defaults, the volume's measured resolution) against
   * the planted features (issue 7: `scoreRois`); counts, pooled over samples in the mean.
   */
  rois?: RoiScores;
  /** The same without the model's crack verifier (roi/verify.ts), when it has one (`rois` is then with it, as `nanoroi run` proposes). */
  roisWithoutVerifier?: RoiScores;
  seconds: number;
}

export interface RoiScores {
  micropore: RoiCounts;
  crack: RoiCounts;
  best?: BestRois[];
  byConfidence?: { micropore: ConfidenceBin[]; crack: ConfidenceBin[] };
}

/** ROI counts of one class: ROIs, those on a planted feature, planted features counted, found. */
export interface RoiCounts {
  rois: number;
  onPlanted: number;
  planted: number;
  found: number;
  /** Cracks: planted and found by planted aperture range. */
  byAperture?: ApertureBin[];
}

/** Dice of the truth against itself moved by one voxel (eval's `scale`), per class; null when absent. */
export interface ShiftDice {
  particle: number | null;
  micropore: number | null;
  crack: number | null;
}

export interface HeldOutSample {
  volume: string;
  shape: number[];
  model: HeldOutScore;
  classical: HeldOutScore | null;
  /** For scale: a one-voxel error everywhere scores this (a property of the volume's truth). */
  oneVoxelShiftDice?: ShiftDice;
}

export interface HeldOutSet {
  manifests?: string[];
  samples: HeldOutSample[];
  mean: { model: HeldOutScore; classical: HeldOutScore | null; oneVoxelShiftDice?: ShiftDice };
}

export function heldOutSet(samples: HeldOutSample[], manifests?: string[]): HeldOutSet {
  const shifts = samples.map((s) => s.oneVoxelShiftDice);
  const shiftMean = (k: keyof ShiftDice) => meanNonNull(shifts.map((x) => x![k]));
  return {
    ...(manifests ? { manifests } : {}),
    samples,
    mean: {
      model: meanScore(samples.map((s) => s.model)),
      classical: samples.every((s) => s.classical) ? meanScore(samples.map((s) => s.classical!)) : null,
      ...(samples.length && shifts.every((x) => x) ? { oneVoxelShiftDice: { particle: shiftMean('particle'), micropore: shiftMean('micropore'), crack: shiftMean('crack') } } : {}),
    },
  };
}

/** Mean of the values that are not null (null when none is). */
function meanNonNull(values: (number | null)[]): number | null {
  const v = values.filter((x): x is number => x !== null);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
}

/** Eval's shift Dice with NaN (class absent) as null. */
export function nnDice(d: { particle: number; micropore: number; crack: number }): ShiftDice {
  return { particle: nn(d.particle), micropore: nn(d.micropore), crack: nn(d.crack) };
}

/** `training.hardware` of a run whose checkpoint predates the per-epoch machine record (0.5.0). */
export const HARDWARE_NOT_RECORDED = 'not recorded';

export interface ModelCard {
  schemaVersion: 1;
  name: string;
  created: string;
  files: { onnx: string; onnxSha256: string; tfjs?: string };
  network: { architecture: '3D U-Net'; config: unknown; parameters: number; classes: string[]; input: string; output: string };
  /** How the held-out figures were made: the defaults `nanoroi segment` and `nanoroi run` use. */
  inference?: { tta: boolean; window: number[] | null; classScale?: number[]; postprocess: true };
  /** The machine that scored the held-out and stress sets (their seconds per volume). */
  scoredOn?: string;
  data: {
    manifests: string[];
    samples: { train: number; val: number; test: number };
    normalization: unknown;
    patch: unknown;
    augment: unknown;
    seed: number;
  };
  training: {
    epochsCompleted: number;
    epochsPlanned: number;
    bestEpoch: number;
    bestValidationMeanDice: number;
    stoppedEarly: boolean;
    stepsPerEpoch: number;
    /** Data-parallel worker threads (parallel.workers), when more than one. */
    workers?: number;
    wallTime_s: number;
    /** The machines that trained it; HARDWARE_NOT_RECORDED for checkpoints older than the record (0.5.0). */
    hardware: string;
    backend: string;
    optimizer: unknown;
    loss: unknown;
    lastEpoch: unknown;
  };
  heldOut: HeldOutSet | null;
  /** Further held-out sets, each held to the bars on its own (e.g. the same settings at another field of view). */
  moreHeldOut?: HeldOutSet[];
  /** Test sets outside the conditions the bars are set for (scored the same way, for information). */
  stressTests?: HeldOutSet[];
  notes: string[];
}

const nn = (v: number): number | null => (Number.isFinite(v) ? v : null);

/** Truth micropores above this equivalent diameter must be found (issue 6: recall ≥ 0.95). */
export const LARGE_PORE_UM = 0.3;

export function scoreFromReport(r: EvalReport, seconds: number): HeldOutScore {
  const bins = r.objects.micropore.bins;
  let large: HeldOutScore['poresOver300nm'];
  if (bins) {
    let truth = 0;
    let detected = 0;
    for (const b of bins) if (b.lo_um >= LARGE_PORE_UM - 1e-9) ((truth += b.truth), (detected += b.detected));
    large = { truth, detected, recall: truth ? detected / truth : null };
  }
  return {
    dice: { particle: nn(r.classes.particle.dice), micropore: nn(r.classes.micropore.dice), crack: nn(r.classes.crack.dice), defect: nn(r.classes.defect.dice) },
    objects: {
      micropore: { recall: nn(r.objects.micropore.recall), precision: nn(r.objects.micropore.precision), f1: nn(r.objects.micropore.f1) },
      crack: { recall: nn(r.objects.crack.recall), precision: nn(r.objects.crack.precision), f1: nn(r.objects.crack.f1) },
    },
    ...(large ? { poresOver300nm: large } : {}),
    seconds,
  };
}

/** Mean of each score over samples, skipping nulls (not applicable). */
export function meanScore(scores: HeldOutScore[]): HeldOutScore {
  const m = (get: (s: HeldOutScore) => number | null): number | null => meanNonNull(scores.map(get));
  const rois = pooledRois(scores);
  const roisWithoutVerifier = pooledRois(scores, 'roisWithoutVerifier');
  return {
    dice: { particle: m((s) => s.dice.particle), micropore: m((s) => s.dice.micropore), crack: m((s) => s.dice.crack), defect: m((s) => s.dice.defect) },
    objects: {
      micropore: { recall: m((s) => s.objects.micropore.recall), precision: m((s) => s.objects.micropore.precision), f1: m((s) => s.objects.micropore.f1) },
      crack: { recall: m((s) => s.objects.crack.recall), precision: m((s) => s.objects.crack.precision), f1: m((s) => s.objects.crack.f1) },
    },
    ...pooledLarge(scores),
    ...(rois ? { rois } : {}),
    ...(roisWithoutVerifier ? { roisWithoutVerifier } : {}),
    seconds: scores.reduce((a, s) => a + s.seconds, 0) / Math.max(1, scores.length),
  };
}

/**
 * Bin lists pooled over volumes: the counts `keys` summed bin by bin, the rest taken from the first
 * volume; undefined unless every volume has a list of the same length (older cards lack some).
 */
function poolBins<T extends object>(lists: (T[] | undefined)[], keys: (keyof T)[]): T[] | undefined {
  if (!lists.length || !lists.every((l) => l && l.length === lists[0]!.length)) return undefined;
  return lists[0]!.map((b, i) => {
    const out = { ...b };
    for (const k of keys) (out[k] as number) = lists.reduce((a, l) => a + (l![i][k] as number), 0);
    return out;
  });
}

function pooledRois(scores: HeldOutScore[], key: 'rois' | 'roisWithoutVerifier' = 'rois'): RoiScores | undefined {
  if (!scores.length || !scores.every((s) => s[key])) return undefined;
  const sum = (cls: 'micropore' | 'crack'): RoiCounts => {
    const c: RoiCounts = { rois: 0, onPlanted: 0, planted: 0, found: 0 };
    for (const s of scores) for (const k of ['rois', 'onPlanted', 'planted', 'found'] as const) c[k] += s[key]![cls][k];
    const byAperture = poolBins(scores.map((s) => s[key]![cls].byAperture), ['planted', 'found']);
    if (byAperture) c.byAperture = byAperture;
    return c;
  };
  // The best n ROIs of every volume, and reliability by confidence bin (the model's ROIs only).
  const best = poolBins(scores.map((s) => s[key]!.best), ['rois', 'onPlanted']);
  const mp = poolBins(scores.map((s) => s[key]!.byConfidence?.micropore), ['rois', 'onPlanted']);
  const cr = poolBins(scores.map((s) => s[key]!.byConfidence?.crack), ['rois', 'onPlanted']);
  return { micropore: sum('micropore'), crack: sum('crack'), ...(best ? { best } : {}), ...(mp && cr ? { byConfidence: { micropore: mp, crack: cr } } : {}) };
}

function pooledLarge(scores: HeldOutScore[]): Pick<HeldOutScore, 'poresOver300nm'> {
  if (!scores.length || !scores.every((s) => s.poresOver300nm)) return {};
  const truth = scores.reduce((a, s) => a + s.poresOver300nm!.truth, 0);
  const detected = scores.reduce((a, s) => a + s.poresOver300nm!.detected, 0);
  return { poresOver300nm: { truth, detected, recall: truth ? detected / truth : null } };
}

export function buildModelCard(args: {
  cfg: TrainConfig;
  result: TrainResult;
  manifests: string[];
  counts: { train: number; val: number; test: number };
  onnxFile: string;
  onnxSha256: string;
  tfjsDir?: string;
  hardware: string;
  heldOut: HeldOutSample[] | null;
  /** Manifests the held-out samples came from (as written in the card). */
  heldOutManifests?: string[];
  moreHeldOut?: HeldOutSet[];
  stressTests?: HeldOutSet[];
  notes?: string[];
}): ModelCard {
  const { cfg, result } = args;
  const last = result.history[result.history.length - 1] ?? null;
  return {
    schemaVersion: 1,
    name: cfg.name,
    created: new Date().toISOString(),
    files: { onnx: args.onnxFile, onnxSha256: args.onnxSha256, ...(args.tfjsDir ? { tfjs: args.tfjsDir } : {}) },
    network: {
      architecture: '3D U-Net',
      config: cfg.model,
      parameters: result.parameters,
      classes: ['background', 'particle', 'micropore', 'crack'],
      input: 'volume [N,1,D,H,W]: grey values normalized by the stored percentiles',
      output: 'probabilities [N,4,D,H,W]: softmax over the classes',
    },
    inference: { tta: cfg.export.tta ?? false, window: cfg.export.inferenceWindow ?? null, ...(cfg.export.classScale ? { classScale: cfg.export.classScale } : {}), postprocess: true },
    scoredOn: args.hardware,
    data: { manifests: args.manifests, samples: args.counts, normalization: cfg.normalization, patch: cfg.patch, augment: cfg.augment, seed: cfg.seed },
    training: {
      epochsCompleted: result.epochsCompleted,
      epochsPlanned: cfg.epochs,
      bestEpoch: result.bestEpoch,
      bestValidationMeanDice: result.bestScore,
      stoppedEarly: result.stoppedEarly,
      stepsPerEpoch: cfg.stepsPerEpoch,
      ...(cfg.parallel.workers > 1 ? { workers: cfg.parallel.workers } : {}),
      wallTime_s: result.wallTime_s,
      hardware: result.hardware.length ? result.hardware.join('; ') : HARDWARE_NOT_RECORDED,
      backend: `${result.backend.name} (${result.backend.provider})`,
      optimizer: cfg.optimizer,
      loss: cfg.loss,
      lastEpoch: last,
    },
    heldOut: args.heldOut ? heldOutSet(args.heldOut, args.heldOutManifests) : null,
    ...(args.moreHeldOut?.length ? { moreHeldOut: args.moreHeldOut } : {}),
    ...(args.stressTests?.length ? { stressTests: args.stressTests } : {}),
    notes: args.notes ?? [],
  };
}

const f3 = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(3));

/** The bars a shipped model must clear on held-out data (issue 6), each against the baseline too. */
export const TARGETS = { microporeDice: 0.85, crackDice: 0.7, poreRecallOver300nm: 0.95 } as const;

export interface TargetCheck {
  figure: string;
  target: number;
  model: number | null;
  classical: number | null;
  meetsTarget: boolean;
  beatsBaseline: boolean;
}

export function checkTargets(model: HeldOutScore, classical: HeldOutScore | null): TargetCheck[] {
  const rows: [string, number, (s: HeldOutScore) => number | null | undefined][] = [
    ['micropore Dice', TARGETS.microporeDice, (s) => s.dice.micropore],
    ['crack Dice', TARGETS.crackDice, (s) => s.dice.crack],
    [`micropore recall > ${LARGE_PORE_UM} µm`, TARGETS.poreRecallOver300nm, (s) => s.poresOver300nm?.recall],
  ];
  return rows.map(([figure, target, get]) => {
    const m = get(model) ?? null;
    const c = classical ? (get(classical) ?? null) : null;
    return { figure, target, model: m, classical: c, meetsTarget: m !== null && m >= target, beatsBaseline: m !== null && (c === null || m > c) };
  });
}

function targetLines(model: HeldOutScore, classical: HeldOutScore | null): string[] {
  const L = ['Against the bars for a bundled model:', '', '| figure | target | model | classical | meets target | beats baseline |', '|---|---|---|---|---|---|'];
  for (const t of checkTargets(model, classical)) L.push(`| ${t.figure} | ≥ ${t.target} | ${f3(t.model)} | ${f3(t.classical)} | ${t.meetsTarget ? 'yes' : 'no'} | ${t.beatsBaseline ? 'yes' : 'no'} |`);
  return L;
}

function setTable(set: HeldOutSet): string[] {
  const row = (name: string, s: HeldOutScore | null) =>
    s
      ? `| ${name} | ${f3(s.dice.particle)} | ${f3(s.dice.micropore)} | ${f3(s.dice.crack)} | ${f3(s.dice.defect)} | ${f3(s.objects.micropore.recall)} / ${f3(s.objects.micropore.precision)} | ${s.poresOver300nm ? `${f3(s.poresOver300nm.recall)} (${s.poresOver300nm.detected}/${s.poresOver300nm.truth})` : '–'} | ${f3(s.objects.crack.recall)} / ${f3(s.objects.crack.precision)} | ${s.seconds.toFixed(1)} |`
      : `| ${name} | – | – | – | – | – | – | – | – |`;
  const L = [`Mean over ${set.samples.length} test volumes (voxel Dice; object recall / precision; pores > ${LARGE_PORE_UM} µm pooled over the volumes):`, ''];
  if (set.manifests?.length) L.push(`Test volumes: the test split of ${set.manifests.map((m) => `\`${m}\``).join(', ')}.`, '');
  L.push('| method | Dice particle | Dice micropore | Dice crack | Dice defect (2∪3) | micropores R / P | micropores > 0.3 µm recall | cracks R / P | s / volume |', '|---|---|---|---|---|---|---|---|---|');
  L.push(row('U-Net (this model)', set.mean.model), row('classical baseline', set.mean.classical));
  const sh = set.mean.oneVoxelShiftDice;
  if (sh) L.push(`| *for scale: the truth moved by one voxel* | ${f3(sh.particle)} | ${f3(sh.micropore)} | ${f3(sh.crack)} | – | – | – | – | – |`);
  L.push('');
  if (sh) L.push('The last row is a yardstick, not a method: a one-voxel error everywhere, far below the resolution, already costs that much voxel Dice on pores and cracks this thin; a Dice near it means boundaries about a voxel off rather than features missed.', '');
  if (set.mean.model.rois) {
    const rc = (c: RoiCounts) => `${f3(c.planted ? c.found / c.planted : NaN)} (${c.found}/${c.planted}) / ${f3(c.rois ? c.onPlanted / c.rois : NaN)} (${c.onPlanted}/${c.rois})`;
    const rrow = (name: string, s: HeldOutScore | null) => (s?.rois ? `| ${name} | ${rc(s.rois.micropore)} | ${rc(s.rois.crack)} |` : `| ${name} | – | – |`);
    L.push(
      `ROIs proposed from those labels (\`nanoroi propose\` defaults with the volume's measured resolution; an ROI is right when a planted feature of its class has its centroid in the ROI's box; pooled): recall of planted micropores > ${LARGE_PORE_UM} µm and of planted cracks / precision.`,
      '',
      '| method | micropore ROIs R / P | crack ROIs R / P |',
      '|---|---|---|',
      rrow(set.mean.model.roisWithoutVerifier ? 'U-Net (this model) with its crack verifier' : 'U-Net (this model)', set.mean.model),
      ...(set.mean.model.roisWithoutVerifier ? [rrow('U-Net without the verifier', { ...set.mean.model, rois: set.mean.model.roisWithoutVerifier })] : []),
      rrow('classical baseline', set.mean.classical),
      '',
    );
    const bc = set.mean.model.rois.byConfidence;
    if (bc) {
      const cell = (b: ConfidenceBin) => (b.rois ? `${f3(b.onPlanted / b.rois)} (${b.onPlanted}/${b.rois})` : '–');
      L.push(
        'How far to trust an ROI from its mean model confidence (`meanConfidence` in the ROI file): the share of this model\'s ROIs in each confidence range that lie on a planted feature of their class (pooled). The report quotes it beside each ROI.',
        '',
        `| class | ${bc.crack.map(confidenceBinLabel).join(' | ')} |`,
        `|---|${bc.crack.map(() => '---|').join('')}`,
        `| micropore | ${bc.micropore.map(cell).join(' | ')} |`,
        `| crack | ${bc.crack.map(cell).join(' | ')} |`,
        '',
      );
    }
    const best = set.mean.model.rois.best;
    if (best?.length) L.push(`The best ROIs of each volume (rank order, both classes) on a planted feature of their class, pooled: ${best.map((b) => `top ${b.n} ${f3(b.rois ? b.onPlanted / b.rois : NaN)} (${b.onPlanted}/${b.rois})`).join(', ')}.`, '');
    const ap = (s: HeldOutScore | null) => s?.rois?.crack.byAperture?.map((b) => `${apertureBinLabel(b)} ${b.found}/${b.planted}`).join(', ');
    if (ap(set.mean.model)) L.push(`Planted cracks found as ROIs by aperture: this model ${ap(set.mean.model)}${ap(set.mean.classical) ? `; classical ${ap(set.mean.classical)}` : ''}.`, '');
  }
  return L;
}

export function modelCardMarkdown(c: ModelCard): string {
  const L: string[] = [];
  L.push(`# Model card: ${c.name}`, '');
  L.push(`3D U-Net segmenting nanoCT reconstructions of battery cathodes into background, particle, micropore and crack. Created ${c.created}.`, '');
  L.push('## Files', '', `- ONNX: \`${c.files.onnx}\` (sha256 \`${c.files.onnxSha256}\`)`);
  if (c.files.tfjs) L.push(`- tfjs weights for fine-tuning (\`nanoroi train --init\`): \`${c.files.tfjs}\``);
  L.push('', '## Network', '', `- ${c.network.parameters} parameters; layout \`${JSON.stringify(c.network.config)}\``, `- input: ${c.network.input}`, `- output: ${c.network.output}`, '');
  L.push('## Data', '', `- manifests: ${c.data.manifests.map((m) => `\`${m}\``).join(', ')}`, `- samples: ${c.data.samples.train} train, ${c.data.samples.val} validation, ${c.data.samples.test} test (held out)`);
  L.push(`- normalization: \`${JSON.stringify(c.data.normalization)}\``, `- patches: \`${JSON.stringify(c.data.patch)}\``, `- seed: ${c.data.seed}`, '');
  const t = c.training;
  L.push('## Training', '');
  L.push(`- epochs: ${t.epochsCompleted} of ${t.epochsPlanned} × ${t.stepsPerEpoch} steps${t.stoppedEarly ? ' (early stop)' : ''}; best epoch ${t.bestEpoch}, validation mean foreground Dice ${f3(t.bestValidationMeanDice)}`);
  L.push(`- wall time: ${(t.wallTime_s / 3600).toFixed(2)} h ${t.hardware === HARDWARE_NOT_RECORDED ? '(training machines not recorded: the run predates 0.5.0)' : `on ${t.hardware}`}; tfjs backend ${t.backend}${t.workers ? `; data-parallel on ${t.workers} worker threads (per-share Dice)` : ''}`);
  L.push(`- optimizer: \`${JSON.stringify(t.optimizer)}\`; loss: \`${JSON.stringify(t.loss)}\``, '');
  L.push('## Held-out results', '');
  if (c.inference) {
    L.push(`Segmented as \`nanoroi segment\` does by default: ${c.inference.tta ? 'flip test-time augmentation (8 mirrorings averaged)' : 'no test-time augmentation'}, window ${c.inference.window ? c.inference.window.join('×') : 'the training patch'}, ${c.inference.classScale ? `labels by the argmax of the class probabilities scaled by ${c.inference.classScale.join(' / ')} (background / particle / micropore / crack)` : 'labels by the argmax of the class probabilities'}, post-processing on (field of view from the volume's geometry).${c.scoredOn ? ` Scored (and timed: s / volume) on ${c.scoredOn}.` : ''}`, '');
  }
  if (!c.heldOut) L.push('No test split in the manifests: no held-out numbers.');
  else {
    L.push(...setTable(c.heldOut));
    L.push(...targetLines(c.heldOut.mean.model, c.heldOut.mean.classical), '');
  }
  for (const set of c.moreHeldOut ?? []) {
    L.push('## Held-out results, another set (held to the same bars)', '', ...setTable(set));
    L.push(...targetLines(set.mean.model, set.mean.classical), '');
  }
  for (const st of c.stressTests ?? []) {
    L.push('## Stress test (not held to the bars)', '', ...setTable(st));
  }
  if (c.notes.length) L.push('## Notes', '', ...c.notes.map((n) => `- ${n}`), '');
  return L.join('\n') + '\n';
}

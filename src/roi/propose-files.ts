/**
 * `propose` over files: read the label volume (and optional grey volume and probabilities), propose
 * ROIs, and write the ROI JSON, CSV and per-ROI images together or not at all. The CLI verb and the
 * pipeline stage both call this.
 */
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { AtomicBatch } from '../core/atomic.js';
import { NanoroiError } from '../core/errors.js';
import { packageRoot, readInputFile, readJsonFile } from '../core/fsutil.js';
import { log } from '../core/progress.js';
import { featureNeeds, parseVerifier, type Verifier } from './verify.js';
import { readVolume } from '../io/volume-file.js';
import { proposeRoisDetailed, roisToCsv, type ProposeDetail, type ProposeOptions } from './propose.js';

export interface ProposeFilesRequest {
  labels: string;
  out: string;
  volume?: string;
  probabilities?: string;
  csv?: string;
  images?: string;
  /**
   * Crack verifier (verify.ts): a file; 'auto' — the installed verifier of the model named in the
   * labels' `nanoroi_model` key, when there is one and its inputs are given; 'none' (default).
   */
  verifier?: string;
  /** Drop cracks below this verifier probability instead of the verifier's own threshold (higher: fewer false cracks, more real ones lost). */
  verifierThreshold?: number;
  options?: Omit<ProposeOptions, 'intensity' | 'probabilities' | 'sourceFiles' | 'verifier'>;
}

/** Read and validate a verifier file. */
export async function loadVerifier(file: string): Promise<Verifier> {
  return parseVerifier(await readJsonFile(file), file);
}

/**
 * The verifier shipped beside a model file (`NAME.onnx` → `NAME.verifier.json`), if there is one
 * and it was fitted on this very file (its recorded SHA-256): a retrained model's false cracks are
 * not the old model's, so a stale verifier is left out, with a log line.
 */
export async function verifierBeside(modelFile: string): Promise<string | null> {
  const f = modelFile.replace(/\.onnx$/, '') + '.verifier.json';
  if (!existsSync(f)) return null;
  const v = await loadVerifier(f);
  if (v.model.onnxSha256) {
    const sha = createHash('sha256').update(await readInputFile(modelFile)).digest('hex');
    if (sha !== v.model.onnxSha256) {
      log(`${path.basename(f)} was fitted on another version of ${path.basename(modelFile)}; not used (refit it: training/fit-verifier.mjs)`);
      return null;
    }
  }
  return f;
}

/** The installed verifier (models/*.verifier.json) fitted on the labels of the model called `modelName`. */
export async function installedVerifierFor(modelName: string): Promise<{ file: string; verifier: Verifier } | null> {
  const dir = path.join(packageRoot(), 'models');
  if (!existsSync(dir)) return null;
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.verifier.json')).sort()) {
    const file = path.join(dir, f);
    const verifier = await loadVerifier(file);
    if (verifier.model.name === modelName) return { file, verifier };
  }
  return null;
}

export async function proposeFiles(req: ProposeFilesRequest): Promise<ProposeDetail> {
  const loaded = await readVolume(req.labels);
  const labels = loaded.volume;
  const n = labels.data.length;
  const intensity = req.volume ? (await readVolume(req.volume)).volume : undefined;
  let probabilities: ProposeOptions['probabilities'];
  if (req.probabilities) {
    const p = (await readVolume(req.probabilities)).volume;
    if (p.data.length % n !== 0) {
      throw new NanoroiError('E_SHAPE', `${req.probabilities} holds ${p.data.length} values, not a whole number of ${labels.shape.join('×')} label volumes`);
    }
    const data = p.data instanceof Float32Array ? p.data : Float32Array.from(p.data as ArrayLike<number>);
    probabilities = { data, classes: p.data.length / n };
  }
  let verifier: Verifier | undefined;
  if (req.verifier === 'auto') {
    const model = loaded.meta.keyValues?.nanoroi_model;
    const sha = loaded.meta.keyValues?.nanoroi_model_sha256;
    const found = model ? await installedVerifierFor(model) : null;
    if (found && sha && found.verifier.model.onnxSha256 && sha !== found.verifier.model.onnxSha256) {
      log(`the crack verifier ${path.basename(found.file)} is not used: it was fitted on another version of model "${model}" than the one that made these labels`);
    } else if (found) {
      const need = featureNeeds(found.verifier);
      const missing = [need.intensity && !intensity ? 'the grey volume (--volume)' : '', need.probabilities && !probabilities ? "the model's probabilities (--probabilities)" : ''].filter(Boolean);
      if (missing.length) log(`the crack verifier of model "${model}" (${path.basename(found.file)}) is not used: it needs ${missing.join(' and ')}`);
      else {
        verifier = found.verifier;
        log(`crack verifier: ${path.basename(found.file)}, fitted on the labels of model "${model}"`);
      }
    }
  } else if (req.verifier && req.verifier !== 'none') verifier = await loadVerifier(req.verifier);
  if (req.verifierThreshold !== undefined) {
    if (!(req.verifierThreshold >= 0 && req.verifierThreshold <= 1)) throw new NanoroiError('E_ARGS', `the verifier threshold must lie in [0, 1], got ${req.verifierThreshold}`);
    if (verifier) verifier = { ...verifier, threshold: req.verifierThreshold };
  }
  const detail = await proposeRoisDetailed(labels, {
    ...req.options,
    verifier,
    intensity,
    probabilities,
    sourceFiles: { labels: path.basename(req.labels), volume: req.volume ? path.basename(req.volume) : undefined },
  });
  const file = detail.file;
  const batch = new AtomicBatch();
  try {
    await batch.add(req.out, JSON.stringify(file, null, 2) + '\n');
    if (req.csv) await batch.add(req.csv, roisToCsv(file));
    if (req.images) {
      const { renderRoiImage } = await import('./images.js');
      const lab8 = { ...labels, data: labels.data instanceof Uint8Array ? labels.data : Uint8Array.from(labels.data as ArrayLike<number>) };
      for (const roi of file.rois) {
        const png = await renderRoiImage({ labels: lab8, components: detail.components.labels, intensity }, roi, detail.componentLabels[roi.id - 1]);
        await batch.add(path.join(req.images, roiImageName(roi.id)), png);
      }
    }
    await batch.commit();
  } catch (e) {
    await batch.abort();
    throw e;
  }
  return detail;
}

/** File name of an ROI's image inside the images folder. */
export function roiImageName(id: number): string {
  return `roi-${String(id).padStart(3, '0')}.png`;
}

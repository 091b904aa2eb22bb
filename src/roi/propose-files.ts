/**
 * `propose` over files: read the label volume (and optional grey volume and probabilities), propose
 * ROIs, and write the ROI JSON, CSV and per-ROI images together or not at all. The CLI verb and the
 * pipeline stage both call this.
 */
import * as path from 'node:path';
import { AtomicBatch } from '../core/atomic.js';
import { NanoroiError } from '../core/errors.js';
import { readVolume } from '../io/volume-file.js';
import { proposeRoisDetailed, roisToCsv, type ProposeDetail, type ProposeOptions } from './propose.js';

export interface ProposeFilesRequest {
  labels: string;
  out: string;
  volume?: string;
  probabilities?: string;
  csv?: string;
  images?: string;
  options?: Omit<ProposeOptions, 'intensity' | 'probabilities' | 'sourceFiles'>;
}

export async function proposeFiles(req: ProposeFilesRequest): Promise<ProposeDetail> {
  const labels = (await readVolume(req.labels)).volume;
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
  const detail = await proposeRoisDetailed(labels, {
    ...req.options,
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

/** What `nanoroi info` reports about a volume file: geometry, type and value statistics. */
import { dtypeOf, stats, type DType, type Vec3 } from '../core/volume.js';
import type { LoadedVolume } from './nrrd.js';

export interface VolumeInfo {
  file: string;
  format: 'nrrd' | 'tiff';
  dtype: DType;
  fileType: string;
  shape: Vec3;
  spacing_um: Vec3;
  origin_um: Vec3;
  extent_um: Vec3;
  voxels: number;
  megabytes: number;
  stats: { finite: number; min: number; max: number; mean: number; std: number; percentiles: Record<string, number> };
  /** Voxel count per value, for integer volumes with at most 16 distinct values (label volumes). */
  valueCounts?: Record<string, number>;
  content?: string;
  keyValues: Record<string, string>;
  notes: string[];
}

const PERCENTILES = [0.5, 1, 5, 25, 50, 75, 95, 99, 99.5];

function valueCounts(data: ArrayLike<number>): Record<string, number> | undefined {
  const counts = new Map<number, number>();
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    const c = counts.get(v);
    if (c === undefined) {
      if (counts.size >= 16) return undefined;
      counts.set(v, 1);
    } else counts.set(v, c + 1);
  }
  const out: Record<string, number> = {};
  for (const k of [...counts.keys()].sort((a, b) => a - b)) out[String(k)] = counts.get(k)!;
  return out;
}

export function describeVolume(file: string, loaded: LoadedVolume): VolumeInfo {
  const { volume: v, meta } = loaded;
  const s = stats(v.data, PERCENTILES);
  const dtype = dtypeOf(v.data);
  const info: VolumeInfo = {
    file,
    format: meta.format,
    dtype,
    fileType: meta.fileType,
    shape: v.shape,
    spacing_um: v.spacing_um,
    origin_um: v.origin_um,
    extent_um: [v.shape[0] * v.spacing_um[0], v.shape[1] * v.spacing_um[1], v.shape[2] * v.spacing_um[2]],
    voxels: v.data.length,
    megabytes: v.data.byteLength / 1e6,
    stats: { finite: s.finite, min: s.min, max: s.max, mean: s.mean, std: s.std, percentiles: s.percentiles },
    keyValues: meta.keyValues,
    notes: meta.notes,
  };
  if (dtype !== 'float32' && dtype !== 'float64') {
    const vc = valueCounts(v.data);
    if (vc) info.valueCounts = vc;
  }
  if (meta.content !== undefined) info.content = meta.content;
  return info;
}

const g = (x: number): string => (Number.isFinite(x) ? String(+x.toPrecision(6)) : String(x));

export function formatVolumeInfo(i: VolumeInfo): string {
  const lines = [
    `file        ${i.file}`,
    `format      ${i.format} (${i.fileType})${i.content ? ` — ${i.content}` : ''}`,
    `type        ${i.dtype}, ${g(i.megabytes)} MB`,
    `shape       ${i.shape[2]} × ${i.shape[1]} × ${i.shape[0]} voxels (x × y × z)`,
    `voxel size  ${g(i.spacing_um[2])} × ${g(i.spacing_um[1])} × ${g(i.spacing_um[0])} µm (x × y × z)`,
    `extent      ${g(i.extent_um[2])} × ${g(i.extent_um[1])} × ${g(i.extent_um[0])} µm`,
    `origin      x=${g(i.origin_um[2])} y=${g(i.origin_um[1])} z=${g(i.origin_um[0])} µm (centre of voxel 0,0,0)`,
    `values      min ${g(i.stats.min)}  max ${g(i.stats.max)}  mean ${g(i.stats.mean)}  std ${g(i.stats.std)}` +
      (i.stats.finite < i.voxels ? `  (${i.voxels - i.stats.finite} NaN/inf)` : ''),
    `percentiles ${Object.entries(i.stats.percentiles).sort((a, b) => Number(a[0]) - Number(b[0])).map(([p, v]) => `${p}%: ${g(v)}`).join('  ')}`,
  ];
  if (i.valueCounts) lines.push(`values      ${Object.entries(i.valueCounts).map(([k, n]) => `${k}: ${n}`).join('  ')} (voxels per value)`);
  for (const [k, v] of Object.entries(i.keyValues)) lines.push(`key         ${k} = ${v.length > 100 ? v.slice(0, 97) + '...' : v}`);
  for (const n of i.notes) lines.push(`note        ${n}`);
  return lines.join('\n') + '\n';
}

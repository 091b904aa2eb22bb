/**
 * One PNG per ROI for reports: three orthogonal slices (xy, xz, yz) through the ROI's centroid,
 * cropped around it, the labels blended lightly and the ROI's own outline drawn in yellow, with a
 * µm scale bar; vertical axes up (y in xy, z in xz and yz). Built from the io preview blocks.
 */
import { crop, type Vec3, type Volume } from '../core/volume.js';
import type { Roi } from './schema.js';
import type { RGBAImage, SliceAxis } from '../io/preview.js';

export interface RoiImageInputs {
  labels: Volume<Uint8Array>;
  /** Component labels (from labelComponents) on the same grid. */
  components: Uint32Array;
  /** Grey volume; without it the labels themselves are shown in grey. */
  intensity?: Volume;
}

/** Crop box around a ROI: its box plus a margin of half its size, at least `minSide` voxels a side. */
export function roiCropBox(roi: Roi, shape: Vec3, minSide = 48): { start: Vec3; size: Vec3 } {
  const b = roi.bbox_vox!;
  const lo = [b.min.z, b.min.y, b.min.x], hi = [b.max.z, b.max.y, b.max.x];
  const start: Vec3 = [0, 0, 0], size: Vec3 = [0, 0, 0];
  for (let a = 0; a < 3; a++) {
    const ext = hi[a] - lo[a] + 1;
    const side = Math.min(shape[a], Math.max(minSide, Math.ceil(ext * 2)));
    const centre = (lo[a] + hi[a]) / 2;
    let s = Math.round(centre - side / 2);
    s = Math.max(0, Math.min(shape[a] - side, s));
    start[a] = s;
    size[a] = side;
  }
  return { start, size };
}

function drawOutline(img: RGBAImage, mask: Float32Array, w: number, h: number, rgb: [number, number, number]): void {
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const i = y * w + x;
    if (mask[i] === 0) continue;
    const edge = x === 0 || y === 0 || x === w - 1 || y === h - 1 || mask[i - 1] === 0 || mask[i + 1] === 0 || mask[i - w] === 0 || mask[i + w] === 0;
    if (!edge) continue;
    img.data[i * 4] = rgb[0];
    img.data[i * 4 + 1] = rgb[1];
    img.data[i * 4 + 2] = rgb[2];
    img.data[i * 4 + 3] = 255;
  }
}

/** PNG bytes of one ROI's three orthogonal slices. `componentLabel` is the ROI's label in `components`. */
export async function renderRoiImage(inp: RoiImageInputs, roi: Roi, componentLabel: number, panelSize = 256): Promise<Buffer> {
  const pv = await import('../io/preview.js');
  const { labels } = inp;
  const { start, size } = roiCropBox(roi, labels.shape);
  const labCrop = crop(labels, start, size);
  const compCrop = crop({ ...labels, data: inp.components }, start, size);
  const mask = new Uint8Array(compCrop.data.length);
  for (let i = 0; i < mask.length; i++) mask[i] = compCrop.data[i] === componentLabel ? 1 : 0;
  const maskVol = { ...labCrop, data: mask };
  const grey: Volume = inp.intensity ? crop(inp.intensity, start, size) : labCrop;
  const win = inp.intensity ? pv.percentileWindow(grey, 1, 99) : { lo: 0, hi: 4 };
  const c = roi.centroid_vox!;
  const at = {
    x: Math.min(size[2] - 1, Math.max(0, Math.round(c.x) - start[2])),
    y: Math.min(size[1] - 1, Math.max(0, Math.round(c.y) - start[1])),
    z: Math.min(size[0] - 1, Math.max(0, Math.round(c.z) - start[0])),
  };
  const [sz, sy, sx] = labels.spacing_um;
  const extent = Math.max(size[2] * sx, size[1] * sy, size[0] * sz);
  const um_per_px = extent / panelSize;
  // Vertical axes up, as in `nanoroi preview`: y in xy, z (the pillar top) in xz and yz.
  const specs: [SliceAxis, number, string][] = [
    ['xy', at.z, `xy z=${at.z + start[0]} y↑`],
    ['xz', at.y, `xz y=${at.y + start[1]} z↑`],
    ['yz', at.x, `yz x=${at.x + start[2]} z↑`],
  ];
  const panels = specs.map(([axis, idx]) => {
    const img = pv.renderSlice(grey, axis, idx, win);
    if (inp.intensity) pv.overlayLabels(img, labCrop, axis, idx, pv.DEFAULT_LABEL_COLORS, 0.35);
    const m = pv.extractSlice(maskVol, axis, idx);
    drawOutline(img, m.values, m.width, m.height, [255, 220, 0]);
    return pv.flipVertical(pv.resamplePanel(img, um_per_px));
  });
  const { image, offsets } = pv.composePanels(panels, { titles: specs.map((s) => s[2]) });
  pv.drawScaleBar(image, { x: offsets[0][0], y: offsets[0][1], width: panels[0].width, height: panels[0].height }, um_per_px);
  return pv.encodePng(image);
}

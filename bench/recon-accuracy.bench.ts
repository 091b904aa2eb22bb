/**
 * Reconstruction accuracy at the acceptance size (issue 5): `npm run bench -- recon-accuracy`.
 *
 * RTK's FDK test set-up scaled to 128³ voxels of 1 µm: Kak–Slaney 3D Shepp–Logan (outer density
 * 2.0) of radius 0.453·128 µm, exact analytic line integrals, source 300 µm and detector 600 µm
 * from the source, 192² pixels of 2 µm, 180 or 60 views over 360°. Each case prints the PSNR
 * (20·log10(2/RMSE) over the whole volume) against two references:
 *   psnr_centre — the phantom sampled at voxel centres (RTK's DrawSheppLogan; the metric),
 *   psnr_pv     — the exact partial-volume phantom (voxel averages, 4³ sub-samples per edge voxel),
 * and `ceiling_centre`, the score of the exact partial-volume phantom itself against the centre
 * samples: no reconstruction of voxel averages can expect more (see docs/reconstruction.md).
 * The calibration case injects an axis offset and a detector tilt and reports their recovery.
 */
import type { BenchCase } from './harness.js';
import { parseGeometry, type Geometry } from '../src/geometry/geometry.js';
import type { Vec3 } from '../src/core/volume.js';
import { analyticProjections, sheppLogan3d, voxelizeEllipsoids } from '../src/physics/analytic.js';
import { fdk } from '../src/recon/fdk.js';
import { reconstruct, type ReconstructOptions } from '../src/recon/reconstruct.js';
import { calibrateGeometry } from '../src/recon/calibrate.js';

const N = 128;

function geometry(n: number, views: number): Geometry {
  return parseGeometry({
    sourceToOrigin_um: (600 / 256) * n,
    sourceToDetector_um: (1200 / 256) * n,
    detector: { cols: Math.ceil(1.5 * n), rows: Math.ceil(1.5 * n), pixel_um: [2, 2], offset_um: [0, 0] },
    angles_deg: { start_deg: 0, step_deg: 360 / views, count: views },
    volume: { shape: [n, n, n], spacing_um: [1, 1, 1] },
  });
}

function psnr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return 20 * Math.log10(2 / Math.sqrt(s / a.length));
}

export async function cases(): Promise<BenchCase[]> {
  const ells = sheppLogan3d(0.453 * N);
  const shape: Vec3 = [N, N, N];
  const centre = voxelizeEllipsoids(ells, shape, [1, 1, 1], undefined, 1).data;
  const pv = voxelizeEllipsoids(ells, shape, [1, 1, 1], undefined, 4).data;
  const ceiling = psnr(pv, centre);
  const sets = new Map<number, { g: Geometry; proj: Float32Array }>();
  const setOf = (views: number) => {
    let s = sets.get(views);
    if (!s) {
      const g = geometry(N, views);
      s = { g, proj: analyticProjections(ells, g) };
      sets.set(views, s);
    }
    return s;
  };

  const recon = (label: string, views: number, opts: ReconstructOptions): BenchCase => {
    let out: Float32Array | null = null;
    let residuals: number[] | undefined;
    return {
      name: `recon-accuracy/${label} ${N}³, ${views} views`,
      fast: async () => {
        const { g, proj } = setOf(views);
        const r = await reconstruct(proj, g, { ...opts, quiet: true });
        out = r.volume.data;
        residuals = r.residuals;
        return out;
      },
      repeats: 1,
      extra: () => ({
        psnr_centre: out ? psnr(out, centre) : NaN,
        psnr_pv: out ? psnr(out, pv) : NaN,
        ceiling_centre: ceiling,
        ...(residuals ? { residual: residuals[residuals.length - 1] } : {}),
      }),
    };
  };

  const calibration = (): BenchCase => {
    const offset_um = 1.3;
    const tilt_deg = 0.6;
    let figures: Record<string, number | string> = {};
    return {
      name: `recon-accuracy/calibration ${N}³, 180 views (axis offset ${offset_um} µm, tilt ${tilt_deg}°)`,
      fast: async () => {
        const nominal = geometry(N, 180);
        const trueG = parseGeometry({ ...nominal, rotationAxisOffset_um: offset_um, detector: { ...nominal.detector, tilt_deg } });
        const proj = analyticProjections(ells, trueG);
        const analyticNominal = analyticProjections(ells, nominal);
        const cal = await calibrateGeometry(proj, nominal, { quiet: true });
        const M = nominal.sourceToDetector_um / nominal.sourceToOrigin_um;
        const truePx = (offset_um * M) / nominal.detector.pixel_um[0];
        const ref = psnr((await fdk(proj, trueG, { quiet: true })).data, centre);
        const corrected = psnr((await fdk(proj, cal.geometry, { quiet: true })).data, centre);
        const uncorrected = psnr((await fdk(proj, nominal, { quiet: true })).data, centre);
        figures = {
          method: cal.method,
          axis_error_px: cal.axisOffset_px - truePx,
          tilt_error_deg: cal.tilt_deg - tilt_deg,
          fdk_true_geometry: ref,
          fdk_corrected: corrected,
          fdk_uncorrected: uncorrected,
        };
        // Source-to-origin distance: a 2 % error (source–detector distance fixed) gives projections
        // identical to those of the phantom scaled by 1.02 under the nominal geometry, so no
        // projection-only method can see it (docs/reconstruction.md). Shown here numerically.
        const s = 1.02;
        const moved = parseGeometry({ ...nominal, sourceToOrigin_um: s * nominal.sourceToOrigin_um });
        const scaled = analyticProjections(sheppLogan3d(0.453 * N * s), moved);
        let d = 0;
        let m = 0;
        for (let i = 0; i < proj.length; i++) {
          const p0 = analyticNominal[i];
          d = Math.max(d, Math.abs(scaled[i] - s * p0));
          m = Math.max(m, Math.abs(p0));
        }
        figures.dso_2pct_max_projection_change = d / m;
        return cal;
      },
      repeats: 1,
      extra: () => figures,
    };
  };

  return [
    recon('FDK', 180, { algo: 'fdk' }),
    recon('SART', 180, { algo: 'sart' }),
    recon('OS-SART', 180, { algo: 'os-sart' }),
    recon('OS-SART-TV', 180, { algo: 'os-sart-tv' }),
    recon('FDK', 60, { algo: 'fdk' }),
    recon('SART', 60, { algo: 'sart' }),
    recon('OS-SART', 60, { algo: 'os-sart' }),
    recon('OS-SART-TV', 60, { algo: 'os-sart-tv' }),
    calibration(),
  ];
}

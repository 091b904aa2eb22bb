/**
 * Report benchmarks on a 192³ cathode phantom run (NANOROI_BENCH_REPORT_SIZE overrides the side):
 * rendering the HTML from a loaded run (windowing, three slice panels, PNG encoding, tables), and
 * the whole `buildReport` from the run folder on disk (NRRD reads included). Throughput in voxels
 * of the volume per second.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { BenchCase } from './harness.js';
import { writeNrrd } from '../src/io/nrrd.js';
import { generateCathodePhantom } from '../src/phantom/cathode.js';
import { proposeRois } from '../src/roi/propose.js';
import { buildReport, renderReport } from '../src/report/report.js';
import { loadRun, type RunData } from '../src/report/inputs.js';

export async function cases(): Promise<BenchCase[]> {
  const n = Number(process.env.NANOROI_BENCH_REPORT_SIZE ?? 192);
  const dir = mkdtempSync(path.join(tmpdir(), 'nanoroi-bench-report-'));
  // The harness has no teardown: the run folder goes when the process ends.
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  let run: RunData | null = null;
  const setup = async (): Promise<RunData> => {
    if (run) return run;
    const ph = await generateCathodePhantom({ shape: [n, n, n], voxel_um: 0.05 }, 11);
    await writeNrrd(path.join(dir, 'volume.nrrd'), ph.attenuation);
    await writeNrrd(path.join(dir, 'labels.nrrd'), ph.labels);
    writeFileSync(path.join(dir, 'rois.json'), JSON.stringify(await proposeRois(ph.labels)));
    run = await loadRun(dir);
    return run;
  };
  const vox = n * n * n;
  return [
    {
      name: `report: render HTML of a loaded ${n}³ run`,
      fast: async () => (await renderReport(await setup(), { out: path.join(dir, 'report.html') })).html.length,
      work: vox,
      workUnit: 'Mvox/s',
      repeats: 3,
    },
    {
      name: `report: buildReport of a ${n}³ run folder (reads included)`,
      fast: async () => {
        await setup();
        return buildReport(dir);
      },
      work: vox,
      workUnit: 'Mvox/s',
      repeats: 2,
    },
  ];
}

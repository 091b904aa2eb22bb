import type { Argv, CommandModule } from 'yargs';

/* eslint-disable @typescript-eslint/no-explicit-any */

async function loadConfig(file?: string) {
  const { parsePlanConfig } = await import('../../plan/config.js');
  if (!file) return parsePlanConfig({});
  const { readJsonFile } = await import('../../core/fsutil.js');
  return parsePlanConfig(await readJsonFile(file), file);
}

async function writePng(out: string, svg: string): Promise<void> {
  const { svgToPng } = await import('../../plan/plot.js');
  const { writeFileAtomic } = await import('../../core/atomic.js');
  await writeFileAtomic(out, await svgToPng(svg));
}

async function budgetArg(b: unknown): Promise<number | undefined> {
  if (b === undefined) return undefined;
  const { parseBudget } = await import('../../plan/schedule.js');
  return parseBudget(String(b));
}

const ct: CommandModule<object, any> = {
  command: 'ct',
  describe: 'CT acquisition trade-off: projections, angular step and exposure for a resolution and a time budget',
  builder: (y: Argv) =>
    y
      .option('diameter', { type: 'number', demandOption: true, describe: 'object (pillar) width in µm' })
      .option('voxel', { type: 'number', default: 0.05, describe: 'voxel size in µm' })
      .option('budget', { type: 'string', default: '30h', describe: 'time budget: 8h, 90m, 1h30m or seconds' })
      .option('resolution', { type: 'number', describe: 'target resolution in µm (default: what full angular sampling gives)' })
      .option('spot', { type: 'number', describe: 'source spot FWHM in µm (default: the effective spot that reproduces the reference 224 nm)' })
      .option('max-streak', { type: 'number', describe: 'largest RMS streak error, % of the attenuation (default 1)' })
      .option('plot', { type: 'string', describe: 'write the trade-off plot to this PNG' }),
  handler: async (args) => {
    const t = await import('../../plan/tradeoff.js');
    const budget = (await budgetArg(args.budget))!;
    const r = t.planCtTradeoff({
      diameter_um: args.diameter,
      voxel_um: args.voxel,
      budget_s: budget,
      targetResolution_um: args.resolution,
      spot_um: args.spot,
      maxStreak: args['max-streak'] === undefined ? undefined : args['max-streak'] / 100,
    });
    process.stdout.write(t.formatCtTable(r));
    if (args.plot) await writePng(args.plot, t.ctPlotSvg(r, args.resolution));
  },
};

const sims: CommandModule<object, any> = {
  command: 'sims',
  describe: 'SIMS acquisition trade-off: current, dwell and pixels vs lateral resolution, counts and time',
  builder: (y: Argv) =>
    y
      .option('fov', { type: 'number', demandOption: true, describe: 'field of view in µm' })
      .option('resolution', { type: 'number', describe: 'target lateral resolution in nm' })
      .option('budget', { type: 'string', describe: 'time budget per acquisition: 30m, 1h, seconds' })
      .option('frames', { type: 'number', default: 1, describe: 'frames per acquisition' })
      .option('min-counts', { type: 'number', default: 20, describe: 'minimum detected counts per pixel' })
      .option('config', { type: 'string', describe: 'plan config JSON (instrument current list, materials)' })
      .option('plot', { type: 'string', describe: 'write the trade-off plot to this PNG' }),
  handler: async (args) => {
    const t = await import('../../plan/tradeoff.js');
    const cfg = await loadConfig(args.config);
    const r = t.planSimsTradeoff(cfg, {
      fov_um: args.fov,
      targetResolution_nm: args.resolution,
      budget_s: await budgetArg(args.budget),
      frames: args.frames,
      minCounts: args['min-counts'],
    });
    process.stdout.write(t.formatSimsTable(r));
    if (args.plot) await writePng(args.plot, t.simsPlotSvg(r, args.resolution));
  },
};

export const command: CommandModule<object, any> = {
  command: 'plan [rois]',
  describe: 'plan the FIB-SEM-SIMS session for an ROI file and write its recipes (or: plan ct / plan sims trade-offs)',
  builder: (y: Argv) =>
    y
      .command(ct)
      .command(sims)
      .positional('rois', { type: 'string', describe: 'ROI file (rois.json from `nanoroi propose`)' })
      .option('out', { type: 'string', describe: 'output folder for recipe.json, autoscript.py, protocol.yaml, sims.csv/json, stream files' })
      .option('registration', { type: 'string', describe: 'registration JSON (fiducial pairs CT µm ↔ stage µm, or a solved transform)' })
      .option('config', { type: 'string', describe: 'plan config JSON (instrument, stage limits, currents, ladder, SIMS)' })
      .option('budget', { type: 'string', describe: 'session time budget: 8h, 90m, 1h30m or seconds; lowest-ranked sites that do not fit are dropped' }),
  handler: async (args) => {
    const { NanoroiError } = await import('../../core/errors.js');
    if (!args.rois) throw new NanoroiError('E_ARGS', 'give an ROI file (nanoroi plan ROIS.json --out DIR), or use `nanoroi plan ct` / `nanoroi plan sims`');
    if (!args.out) throw new NanoroiError('E_ARGS', 'give --out DIR for the recipe files');
    const { formatPlanSummary } = await import('../../plan/summary.js');
    const { planFiles } = await import('../../recipes/files.js');
    const { files, ...recipe } = await planFiles({ rois: args.rois, out: args.out, config: args.config, registration: args.registration, budget: args.budget === undefined ? undefined : String(args.budget) });
    process.stdout.write(formatPlanSummary(recipe));
    process.stdout.write(`wrote ${files.length} files to ${args.out}: ${files.join(', ')}\n`);
  },
};

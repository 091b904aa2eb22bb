import type { CommandModule } from 'yargs';

interface Args {
  out: string;
  config?: string;
  projections?: string;
  geometry?: string;
  volume?: string;
  from?: string;
  to?: string;
  force?: boolean;
}

/** Where the demo assumes the pillar top sits on the stage (RAW coordinates, µm). */
export const DEMO_PILLAR_TOP_STAGE_UM = { x: 12000, y: -8000, z: 4000 };

const stageList = 'sample, reconstruct, resolution, segment, propose, plan, report';

export const command: CommandModule<object, Args> = {
  command: 'run',
  describe: 'the whole pipeline, scan → recipes: reconstruct, segment, propose ROIs, plan FIB/SIMS, write recipes and a report',
  builder: (y) =>
    y
      .option('out', { type: 'string', demandOption: true, describe: 'run folder (outputs, manifest.json, report.html)' })
      .option('config', { type: 'string', describe: 'pipeline config JSON (see docs/pipeline.md); relative paths in it are relative to it' })
      .option('projections', { type: 'string', describe: 'start from this projection stack (overrides the config input)' })
      .option('geometry', { type: 'string', describe: 'geometry JSON of --projections (default: the one stored in the stack)' })
      .option('volume', { type: 'string', describe: 'start from a reconstructed volume instead (skips reconstruction)' })
      .option('from', { type: 'string', describe: `first stage to run (${stageList})` })
      .option('to', { type: 'string', describe: 'last stage to run' })
      .option('force', { type: 'boolean', describe: 're-run the selected stages even when up to date' })
      .conflicts('volume', ['projections', 'geometry']),
  handler: async (args) => {
    const path = await import('node:path');
    const { readJsonFile } = await import('../../core/fsutil.js');
    const { log } = await import('../../core/progress.js');
    const { parsePipelineConfig } = await import('../../pipeline/config.js');
    const { runPipeline } = await import('../../pipeline/pipeline.js');
    const raw = (args.config ? await readJsonFile(args.config) : {}) as Record<string, unknown>;
    if (args.projections) raw.input = { projections: path.resolve(args.projections), ...(args.geometry ? { geometry: path.resolve(args.geometry) } : {}) };
    if (args.volume) raw.input = { volume: path.resolve(args.volume) };
    const config = parsePipelineConfig(raw, args.config ?? 'pipeline config');
    const r = await runPipeline({ out: args.out, config, baseDir: args.config ? path.dirname(path.resolve(args.config)) : process.cwd(), from: args.from, to: args.to, force: args.force });
    log(`ran ${r.ran.length ? r.ran.join(', ') : 'nothing'}${r.skipped.length ? `; up to date: ${r.skipped.join(', ')}` : ''}`);
    process.stdout.write(`${r.report}\n`);
  },
};

export const demo: CommandModule<object, { out: string; force?: boolean }> = {
  command: 'demo',
  describe: 'the whole pipeline on the bundled sample (a simulated cathode pillar scan, made from a fixed seed): what `npm start` runs',
  builder: (y) =>
    y
      .option('out', { type: 'string', default: 'out/demo', describe: 'run folder' })
      .option('force', { type: 'boolean', describe: 're-run every stage' }),
  handler: async (args) => {
    const { log } = await import('../../core/progress.js');
    const { parsePipelineConfig } = await import('../../pipeline/config.js');
    const { runPipeline } = await import('../../pipeline/pipeline.js');
    const t0 = performance.now();
    // The bundled sample has no microscope behind it: place its pillar top at a plausible Scios
    // stage position (RAW, µm) so the default pillar-axis registration applies.
    const config = parsePipelineConfig({ plan: { settings: { pillarTopStage_um: DEMO_PILLAR_TOP_STAGE_UM } } });
    const r = await runPipeline({ out: args.out, config, force: args.force });
    log(`demo finished in ${((performance.now() - t0) / 1000).toFixed(0)} s; recipes in ${args.out}/plan; open the report:`);
    process.stdout.write(`${r.report}\n`);
  },
};

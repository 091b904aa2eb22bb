import type { CommandModule } from 'yargs';

export const command: CommandModule<object, { preset: string; out?: string; vectors?: boolean; check?: string }> = {
  command: 'geometry',
  describe: 'print a cone-beam geometry preset (JSON), validate a geometry file, or print its ASTRA cone_vec vectors',
  builder: (y) =>
    y
      .option('preset', { type: 'string', default: 'xrm-ii', describe: 'preset name (xrm-ii: the reference paper\'s SEM nanoCT)' })
      .option('check', { type: 'string', describe: 'validate this geometry JSON instead of printing a preset' })
      .option('vectors', { type: 'boolean', describe: 'print ASTRA cone_vec rows (src, det, u, v) instead of the JSON' })
      .option('out', { type: 'string', describe: 'write to this file instead of stdout' }),
  handler: async (args) => {
    const g = await import('../../geometry/geometry.js');
    const { readJsonFile } = await import('../../core/fsutil.js');
    const geom = args.check ? g.parseGeometry(await readJsonFile(args.check), args.check) : g.presetGeometry(args.preset);
    const text = args.vectors ? g.toAstraConeVec(geom).map((r) => r.map((x) => +x.toPrecision(12)).join(' ')).join('\n') + '\n' : g.geometryToJson(geom);
    if (args.out) {
      const { writeFileAtomic } = await import('../../core/atomic.js');
      await writeFileAtomic(args.out, text);
    } else process.stdout.write(text);
  },
};

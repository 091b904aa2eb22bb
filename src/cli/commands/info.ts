import type { CommandModule } from 'yargs';

export const command: CommandModule<object, { file: string; json?: boolean }> = {
  command: 'info <file>',
  describe: 'describe a volume file (NRRD or TIFF stack): shape, voxel size, origin, type, value statistics',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'volume file (.nrrd, .nhdr, .tif, .tiff)' })
      .option('json', { type: 'boolean', describe: 'print JSON instead of text' }),
  handler: async (args) => {
    const { readVolume } = await import('../../io/volume-file.js');
    const { describeVolume, formatVolumeInfo } = await import('../../io/info.js');
    const loaded = await readVolume(args.file);
    const info = describeVolume(args.file, loaded);
    process.stdout.write(args.json ? JSON.stringify(info, null, 2) + '\n' : formatVolumeInfo(info));
  },
};

/**
 * Every CLI verb. Each module exports `command` (a yargs CommandModule) and imports its library
 * code lazily inside the handler. Add one import and one entry per verb.
 */
import type { CommandModule } from 'yargs';
import { command as run, demo } from './run.js';
import { command as geometry } from './geometry.js';
import { command as info } from './info.js';
import { command as convert } from './convert.js';
import { command as preview } from './preview.js';
import { command as propose } from './propose.js';
import { command as plan } from './plan.js';
import { command as evalCmd } from './eval.js';
import { command as simulate } from './simulate.js';
import { command as dataset } from './dataset.js';
import { command as reconstruct } from './reconstruct.js';
import { command as resolution } from './resolution.js';
import { command as report } from './report.js';
import { command as train } from './train.js';
import { command as segment } from './segment.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [
  run,
  demo,
  geometry,
  info,
  convert,
  preview,
  propose,
  plan,
  evalCmd,
  simulate,
  dataset,
  reconstruct,
  resolution,
  report,
  train,
  segment,
];

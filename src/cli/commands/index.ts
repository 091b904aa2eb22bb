/**
 * Every CLI verb. Each module exports `command` (a yargs CommandModule) and imports its library
 * code lazily inside the handler. Add one import and one entry per verb.
 */
import type { CommandModule } from 'yargs';
import { command as geometry } from './geometry.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [
  geometry,
];

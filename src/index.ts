/** nanoroi as a library: every stage is a function; the CLI is a thin layer over these. */
export * from './core/index.js';
export * from './geometry/index.js';
export { nanoroiVersion } from './version.js';

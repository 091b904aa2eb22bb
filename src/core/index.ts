export * from './errors.js';
export * from './volume.js';
export * from './rng.js';
export * from './atomic.js';
export * from './progress.js';
export * from './pool.js';
export * from './schema.js';
export * from './fsutil.js';

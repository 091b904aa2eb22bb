export * from './schema.js';
export * from './autoscript.js';
export * from './openfibsem.js';
export * from './stream.js';
export * from './sims.js';
export * from './bundle.js';

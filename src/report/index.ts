export * from './svg.js';
export * from './slices.js';
export * from './panels.js';
export * from './inputs.js';
export * from './report.js';

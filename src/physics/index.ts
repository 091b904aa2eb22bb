export * from './attenuation.js';
export * from './spectrum.js';
export * from './projector.js';
export * from './analytic.js';
export * from './acquire.js';

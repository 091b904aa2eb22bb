export * from './nrrd.js';
export * from './tiff.js';
export * from './volume-file.js';
export * from './preview.js';
export { swapBytes, bytesOf, littleEndianChunks, HOST_LITTLE_ENDIAN } from './dtype.js';
export * from './info.js';

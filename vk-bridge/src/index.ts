export * from './types.js';
export * from './pod.js';
export * from './sites.js';

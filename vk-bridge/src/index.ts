export * from './types.js';
export * from './pod.js';
export * from './sites.js';
export * from './errors.js';
export * from './accounts.js';
export { createDriver, type CreateDriverOptions } from './factory.js';
export { LocalDriver, type LocalDriverOptions } from './drivers/local.js';
export { SlurmDriver, type SlurmDriverOptions, type SlurmCallStats } from './drivers/slurm.js';
export { mapSlurmState } from './drivers/slurm-states.js';
export { renderJobScript } from './drivers/slurm-script.js';
export {
  KubernetesDriver,
  podToStatus,
  type KubernetesDriverOptions
} from './drivers/kubernetes.js';
export {
  InterlinkDriver,
  interlinkToStatus,
  type InterlinkDriverOptions,
  type InterlinkCallStats
} from './drivers/interlink.js';

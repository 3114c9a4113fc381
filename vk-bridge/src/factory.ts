/** One driver per site, chosen by the site's `driver` field. */
import { KubernetesDriver, type KubernetesDriverOptions } from './drivers/kubernetes.js';
import { InterlinkDriver, type InterlinkDriverOptions } from './drivers/interlink.js';
import { LocalDriver, type LocalDriverOptions } from './drivers/local.js';
import { SlurmDriver, type SlurmDriverOptions } from './drivers/slurm.js';
import type { Driver, SiteConfig } from './types.js';

export interface CreateDriverOptions {
  /** Per-site state (local session files, Slurm scripts and output) lives under this directory. */
  stateDir?: string;
  /** How often polling drivers (slurm, interlink) ask their backend, ms. */
  pollIntervalMs?: number;
  local?: LocalDriverOptions;
  slurm?: SlurmDriverOptions;
  kubernetes?: KubernetesDriverOptions;
  interlink?: InterlinkDriverOptions;
}

export function createDriver(site: SiteConfig, options: CreateDriverOptions = {}): Driver {
  const stateDir = options.stateDir ? `${options.stateDir}/${site.id}` : undefined;
  switch (site.driver) {
    case 'local':
      return new LocalDriver(site, { stateDir, ...options.local });
    case 'slurm':
      return new SlurmDriver(site, {
        workDir: stateDir,
        pollIntervalMs: options.pollIntervalMs,
        ...options.slurm
      });
    case 'kubernetes':
      return new KubernetesDriver(site, options.kubernetes);
    case 'interlink':
      return new InterlinkDriver(site, {
        stateDir,
        pollIntervalMs: options.pollIntervalMs,
        ...options.interlink
      });
    default:
      throw new Error(`site "${site.id}": unknown driver "${site.driver}"`);
  }
}

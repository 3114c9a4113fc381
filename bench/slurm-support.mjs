// What the Slurm benchmarks share: the local Slurm (started if it is not running), a bench site on
// it, the session counts they step through, and the median.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Starts the single-node Slurm of scripts/slurm-local.sh; returns its config and client env. */
export function startLocalSlurm() {
  const script = path.join(repo, 'scripts/slurm-local.sh');
  execFileSync('bash', [script, 'start'], { stdio: 'ignore' });
  const conf = execFileSync('bash', [script, 'env']).toString().split('=')[1].trim();
  return { conf, env: { ...process.env, SLURM_CONF: conf } };
}

/** A one-profile HPC site on that Slurm. */
export function benchSite(conf, maxWalltime) {
  return {
    id: 'bench',
    displayName: 'Bench',
    kind: 'hpc',
    driver: 'slurm',
    slurm: { conf },
    profiles: [
      { id: 'p', displayName: 'p', resources: { cpu: 1, memory: '64Mi', gpu: 0 }, maxWalltime }
    ]
  };
}

/** 1, 50 and max sessions (fewer when max is small). */
export const stepsUpTo = max => [1, 50, max].filter((n, i, a) => n <= max && a.indexOf(n) === i);

export const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

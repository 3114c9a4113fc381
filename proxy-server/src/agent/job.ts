/**
 * Batch jobs: the agent runs a notebook or a script to completion, with no tunnel, and exits with
 * its exit code, which becomes the session's `completed` or `failed: exit code N`. Its output is
 * the job log.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { basename, dirname, extname } from 'node:path';
import { AGENT_ENV, readArgv } from '@jupyterlab-interlink/contract';

export interface JobSpec {
  /** A notebook (.ipynb) or a script (.py, .sh, or anything executable). */
  path?: string;
  /** An argv to run instead. */
  command?: string[];
  python?: string;
}

/** The argv that runs a job, chosen by what it is. */
export function jobArgv(job: JobSpec): string[] {
  if (job.command?.length) return job.command;
  if (!job.path) throw new Error(`a job needs ${AGENT_ENV.jobPath} or ${AGENT_ENV.jobCommand}`);
  const python = job.python ?? '/usr/bin/python3';
  switch (extname(job.path)) {
    case '.ipynb':
      // The executed copy lands next to the notebook, so the user finds outputs where they look.
      return [
        python,
        '-m',
        'nbconvert',
        '--to',
        'notebook',
        '--execute',
        '--output-dir',
        dirname(job.path),
        '--output',
        `${basename(job.path, '.ipynb')}.output.ipynb`,
        job.path
      ];
    case '.py':
      return [python, '-u', job.path];
    case '.sh':
      return ['/bin/bash', job.path];
    default:
      return [job.path];
  }
}

export function jobFromEnvironment(env: NodeJS.ProcessEnv = process.env): JobSpec {
  return {
    path: env[AGENT_ENV.jobPath],
    command: readArgv(env, AGENT_ENV.jobCommand),
    python: env[AGENT_ENV.python]
  };
}

/** Runs the job with the agent's stdio; resolves with its exit code (128+N when killed by signal N). */
export function runJob(job: JobSpec): Promise<number> {
  const argv = jobArgv(job);
  process.stdout.write(`running job: ${argv.join(' ')}\n`);
  return new Promise(resolve => {
    const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGTERM', forward);
    process.on('SIGINT', forward);
    child.on('error', err => {
      process.stderr.write(`job could not start: ${err.message}\n`);
      resolve(127);
    });
    child.on('exit', (code, signal) => {
      process.off('SIGTERM', forward);
      process.off('SIGINT', forward);
      const status = code ?? 128 + (signal ? constants.signals[signal] : 1);
      process.stdout.write(`job exited with code ${status}\n`);
      resolve(status);
    });
  });
}

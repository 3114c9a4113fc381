/**
 * Failure reasons in words a person can act on: `exit code 1: ModuleNotFoundError: No module
 * named 'torch'` rather than `exit code 1`. The job log's last line is shown to its owner in the
 * session list, so it is bounded and anything that looks like a secret is taken out.
 */
import { open } from 'node:fs/promises';
import type { V1Secret } from '@kubernetes/client-node';

/** Longest log line a reason carries, in characters. */
export const MAX_REASON_LINE = 160;
const TAIL_BYTES = 8 * 1024;

/** What a redacted secret becomes. */
export const REDACTED = '[redacted]';

// key=value / key: value / "Authorization: Bearer x" with a secret-sounding key
const SECRET_ASSIGNMENT =
  /\b(token|secret|password|passwd|api[_-]?key|access[_-]?key|authorization)(["']?\s*[:=]\s*)(bearer\s+|token\s+|basic\s+)?(["']?)[^\s"',;&]+/gi;
// a long base64url or hex run: a generated token (our session secrets are 43 base64url characters)
const RANDOM_RUN = /[A-Za-z0-9_-]{32,}={0,2}/g;
/** Random tokens mix upper case with lower case or digits, or are hex; snake_case names are neither. */
const looksRandom = (run: string): boolean =>
  (/[A-Z]/.test(run) && /[a-z0-9]/.test(run)) || (/^[0-9a-f]+$/i.test(run) && /[0-9]/.test(run));
// ANSI colours and other control characters (a progress bar's carriage returns included)
// eslint-disable-next-line no-control-regex
const CONTROL = /\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f]/g;

/** Takes out the known secrets, key=value secrets and long random-looking tokens. */
export function redactSecrets(text: string, known: string[] = []): string {
  let out = text;
  for (const secret of known) {
    if (secret.length >= 6) out = out.split(secret).join(REDACTED);
  }
  out = out.replace(
    SECRET_ASSIGNMENT,
    (_m, key: string, sep: string, scheme: string | undefined, quote: string) =>
      `${key}${sep}${scheme ?? ''}${quote}${REDACTED}`
  );
  return out.replace(RANDOM_RUN, run => (looksRandom(run) ? REDACTED : run));
}

// "job exited with code 3", "init container setup: exit code 3": the reason says that already
const RESTATES_EXIT =
  /^[\w\s:.-]{0,60}?\b((exited|finished|ended) with (exit )?(code|status)|exit code) \d+\.?$/i;

/** The last non-empty line of a log text that says more than the exit code, cleaned, redacted, bounded. */
export function lastLine(text: string, known: string[] = []): string | undefined {
  const lines = text.replace(CONTROL, '').split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i].trim();
    if (!line || RESTATES_EXIT.test(line)) continue;
    const clean = redactSecrets(line, known);
    return clean.length > MAX_REASON_LINE ? `${clean.slice(0, MAX_REASON_LINE - 1)}…` : clean;
  }
  return undefined;
}

/** The end of a log file (at most 8 KiB), or '' when there is none. */
export async function readLogTail(path: string): Promise<string> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return '';
  }
  try {
    const { size } = await fh.stat();
    const length = Math.min(size, TAIL_BYTES);
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, size - length);
    return buf.toString('utf8');
  } finally {
    await fh.close();
  }
}

/** `exit code 1` → `exit code 1: <the log's last line>` when the log has one. */
export function withLogLine(reason: string, line: string | undefined): string {
  return line ? `${reason}: ${line}` : reason;
}

/** 2147483648 → `2 GiB`, 104857600 → `100 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = bytes;
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit++;
  }
  const text = Number.isInteger(n) ? String(n) : n.toFixed(1).replace(/\.0$/, '');
  return `${text} ${units[unit]}`;
}

/** The reason of a job killed for its memory, with the limit it had when known. */
export function outOfMemoryReason(limitBytes?: number): string {
  return limitBytes
    ? `out of memory: the job used more than its ${formatBytes(limitBytes)}`
    : 'out of memory: the job used more than the memory it asked for';
}

/**
 * Slurm without cgroups (jobacct_gather/linux with OverMemoryKill) kills a job over its --mem and
 * says so in the job's output only: `StepId=7.batch exceeded memory limit (120700928 > 104857600),
 * being killed`. The limit in bytes, or undefined when the log says nothing of the kind.
 */
export function slurmMemoryKill(logTail: string): { limitBytes?: number } | undefined {
  const m = /exceeded memory limit \((\d+) > (\d+)\)/.exec(logTail);
  if (m) return { limitBytes: Number(m[2]) };
  return /Exceeded job memory limit/.test(logTail) ? {} : undefined;
}

/** The plaintext values of a pod's Secrets: what must never show in a reason. */
export function secretValues(secrets: V1Secret[]): string[] {
  return secrets.flatMap(s => [
    ...Object.values(s.data ?? {}).map(v => Buffer.from(v, 'base64').toString('utf8')),
    ...Object.values(s.stringData ?? {})
  ]);
}

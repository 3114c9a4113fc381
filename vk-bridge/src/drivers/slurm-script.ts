/**
 * The sbatch script of a pod, as interLink's Slurm plugin builds one: an `#SBATCH` line per flag,
 * job name and output file, pre-exec, an env file per container, exit codes in status files.
 */

/** Single-quoted for bash. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface JobScriptInput {
  jobName: string;
  dir: string;
  flags: string[];
  preExec?: string;
  init: { name: string; cwd: string; argv: string[] }[];
  containers: { name: string; cwd: string; argv: string[] }[];
}

/** The sbatch script. Containers' exit codes land in `<dir>/{init,run}-<name>.status`. */
export function renderJobScript(input: JobScriptInput): string {
  const lines = ['#!/bin/bash'];
  for (const flag of input.flags) lines.push(`#SBATCH ${flag}`);
  // ours last: sbatch keeps the last value, and the log must be where we read it
  lines.push(`#SBATCH --job-name=${input.jobName}`, `#SBATCH --output=${input.dir}/job.out`);
  lines.push(
    '',
    '# a cancel that reached the node before the launch is lost (seen with Slurm 22.05): check once',
    'if [ "$(squeue -h -j "$SLURM_JOB_ID" -o %t 2>/dev/null)" = CA ]; then echo "cancelled before it started" >&2; exit 143; fi'
  );
  if (input.preExec) lines.push('', '# pre-exec (slurm-job.vk.io/pre-exec)', input.preExec);
  lines.push(
    '',
    `workdir=${shq(input.dir)}`,
    'highest=0',
    'pids=""',
    '# a container: its env file on top of the job environment, its working directory or $HOME',
    'ctn() {',
    '  local name=$1 cwd=$2; shift 2',
    '  . "$workdir/env-$name.sh"',
    '  { [ -n "$cwd" ] && cd "$cwd" 2>/dev/null; } || cd "$HOME" 2>/dev/null || cd "$workdir"',
    '  exec "$@"',
    '}',
    'run_init() {',
    '  local name=$1',
    '  ( ctn "$@" )',
    '  local code=$?',
    '  echo "$code" > "$workdir/init-$name.status"',
    '  if [ "$code" -ne 0 ]; then echo "init container $name: exit code $code" >&2; exit "$code"; fi',
    '}',
    'run_ctn() {',
    '  ( ctn "$@" ) &',
    '  pids="$pids $!:$1"',
    '}',
    "trap 'kill -TERM $(jobs -p) 2>/dev/null; wait' TERM",
    ''
  );
  for (const c of input.init)
    lines.push(['run_init', c.name, shq(c.cwd), ...c.argv.map(shq)].join(' '));
  for (const c of input.containers)
    lines.push(['run_ctn', c.name, shq(c.cwd), ...c.argv.map(shq)].join(' '));
  lines.push(
    'for pc in $pids; do',
    '  wait "${pc%%:*}"; code=$?',
    '  echo "$code" > "$workdir/run-${pc#*:}.status"',
    '  [ "$code" -gt "$highest" ] && highest=$code',
    'done',
    'exit "$highest"',
    ''
  );
  return lines.join('\n');
}

export function envFile(env: Record<string, string>): string {
  return (
    Object.entries(env)
      .filter(([k]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
      .map(([k, v]) => `export ${k}=${shq(v)}`)
      .join('\n') + '\n'
  );
}

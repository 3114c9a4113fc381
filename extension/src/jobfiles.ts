/** Which files run as batch jobs, and where a job leaves its result. Pure. */

/** What a batch job can run: notebooks, Python and shell scripts. */
export function isJobFile(path: string): boolean {
  return /\.(ipynb|py|sh)$/.test(path);
}

/** Where the agent writes an executed notebook: next to it, as `<name>.output.ipynb`. */
export function resultPath(path: string): string | null {
  return path.endsWith('.ipynb') ? path.replace(/\.ipynb$/, '.output.ipynb') : null;
}

/** The name a job is listed under: its file's name. */
export function jobName(path: string): string {
  return path.split('/').pop() ?? path;
}

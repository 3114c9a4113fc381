/**
 * The standalone token from a file only its owner can read: a token on a command line is shown
 * by `ps` to every user of the machine, one in a group- or world-readable file to them too.
 */
import { readFileSync, statSync } from 'node:fs';

export function readTokenFile(file: string, field = 'INTERLINK_TOKEN_FILE'): string {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (err) {
    throw new Error(`${field}: cannot read ${file} (${(err as NodeJS.ErrnoException).code})`);
  }
  if ((mode & 0o077) !== 0) {
    throw new Error(
      `${field}: ${file} may be read by other users (mode ${(mode & 0o777).toString(8)}); chmod 600 it`
    );
  }
  const token = readFileSync(file, 'utf8').trim();
  if (!token) throw new Error(`${field}: ${file} is empty; write the token in it`);
  return token;
}

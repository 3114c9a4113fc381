/**
 * One clock for the browser and the service, moved by the test: Playwright's clock in the page,
 * and libfaketime (Debian's `libfaketime`) under the Node service, which JupyterLab starts
 * through ./node-on-test-clock. The service's wall clock reads an offset from a file (`+0` until
 * a test moves it); its monotonic clock, which timers use, runs true, so nothing fires early and
 * nothing waits for a test to move time. JupyterLab's own Python and the sessions' jobs keep
 * true time (libfaketime breaks Python's `time.sleep`).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from '@playwright/test';

const LIBRARY = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';

/** The offset file, chosen once in the runner and handed to workers like the port. */
export function serverClockFile(notebookDir: string): string {
  return join(notebookDir, '..', `${notebookDir.split('/').pop()}.clock`);
}

/** What ./node-on-test-clock needs in its environment; the library must be installed. */
export function serverClockEnv(file: string): Record<string, string> {
  // No silent skip: scripts/install-system-deps.sh installs it.
  if (!existsSync(LIBRARY)) throw new Error(`${LIBRARY} is missing: install Debian's libfaketime`);
  if (!existsSync(file)) writeFileSync(file, '+0\n');
  return {
    FAKETIME_TIMESTAMP_FILE: file,
    // Read the file again each second (a moved offset counts within one), and keep
    // monotonic time true.
    FAKETIME_CACHE_DURATION: '1',
    FAKETIME_DONT_FAKE_MONOTONIC: '1'
  };
}

/** Seconds the server's wall clock is ahead now. */
function offsetSeconds(file: string): number {
  return Number(readFileSync(file, 'utf8').trim().replace(/^\+/, '')) || 0;
}

/** Moves the page's clock and the server's by `ms`, together. */
export async function advanceClocks(page: Page, file: string, ms: number): Promise<void> {
  writeFileSync(file, `+${offsetSeconds(file) + Math.round(ms / 1000)}\n`);
  await page.clock.fastForward(ms);
}

/** Puts the server's clock back to true time (the page's goes with the page). */
export function resetServerClock(file: string): void {
  writeFileSync(file, '+0\n');
}

// The standalone token read from a file only its owner may read.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTokenFile } from './token-file.js';

describe('token file', () => {
  it('reads a 0600 file and refuses one that others may read, naming the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'interlink-token-'));
    try {
      const file = join(dir, 'token');
      writeFileSync(file, 'tok-0123456789\n', { mode: 0o600 });
      assert.equal(readTokenFile(file), 'tok-0123456789');
      writeFileSync(join(dir, 'open'), 'tok', { mode: 0o644 });
      assert.throws(
        () => readTokenFile(join(dir, 'open')),
        /INTERLINK_TOKEN_FILE: .*mode 644.*chmod 600/
      );
      writeFileSync(join(dir, 'empty'), '\n', { mode: 0o600 });
      assert.throws(() => readTokenFile(join(dir, 'empty')), /is empty/);
      assert.throws(() => readTokenFile(join(dir, 'missing')), /ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

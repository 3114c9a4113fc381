import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, type CopySource, type CopyTarget } from './filecopy';

function source(bytes: Uint8Array): CopySource {
  return {
    size: async () => bytes.length,
    read: async (start, end) => bytes.slice(start, end)
  };
}

/** A destination as jupyter_server's chunked save keeps it; `fail` decides each write's fate. */
function target(fail: (index: number, call: number) => 'ok' | 'before' | 'after' = () => 'ok') {
  let file: Uint8Array | undefined;
  let calls = 0;
  const writes: number[] = [];
  const t: CopyTarget = {
    size: async () => file?.length,
    write: async (data, index) => {
      const fate = fail(index, ++calls);
      if (fate === 'before') throw new Error('tunnel cut before the chunk arrived');
      writes.push(index);
      file = index === 1 ? data : Buffer.concat([file ?? new Uint8Array(), data]);
      if (fate === 'after') throw new Error('tunnel cut before the answer arrived');
    }
  };
  return { t, file: () => file, writes };
}

const noWait = { sleep: async () => {}, chunkBytes: 1000 };

describe('copyFile', () => {
  it('copies byte for byte in chunks 1, 2, …, -1, with progress to the end', async () => {
    const bytes = randomBytes(3500);
    const dst = target();
    const progress: number[] = [];
    await copyFile(source(bytes), dst.t, {
      ...noWait,
      onProgress: copied => progress.push(copied)
    });
    assert.deepEqual(Buffer.from(dst.file()!), bytes);
    assert.deepEqual(dst.writes, [1, 2, 3, -1]);
    assert.deepEqual(progress, [0, 1000, 2000, 3000, 3500]);
  });

  it('sends a chunk again when it was lost on the way', async () => {
    const bytes = randomBytes(3500);
    const dst = target((index, call) => (index === 2 && call === 2 ? 'before' : 'ok'));
    await copyFile(source(bytes), dst.t, noWait);
    assert.deepEqual(Buffer.from(dst.file()!), bytes);
  });

  it('does not send again a chunk that landed but whose answer was lost', async () => {
    const bytes = randomBytes(3500);
    const dst = target((index, call) => (index === 3 && call === 3 ? 'after' : 'ok'));
    await copyFile(source(bytes), dst.t, noWait);
    assert.deepEqual(Buffer.from(dst.file()!), bytes, 'no chunk twice');
    assert.deepEqual(dst.writes, [1, 2, 3, -1]);
  });

  it('asks the destination again, not sends again, while it cannot say what landed', async () => {
    const bytes = randomBytes(3500);
    const dst = target((index, call) => (index === 3 && call === 3 ? 'after' : 'ok'));
    const size = dst.t.size;
    let asked = 0;
    // Away for a while after the cut: the first two questions go unanswered.
    dst.t.size = async () => {
      if (++asked <= 2) throw new Error('still restarting');
      return size();
    };
    await copyFile(source(bytes), dst.t, noWait);
    assert.deepEqual(Buffer.from(dst.file()!), bytes, 'no chunk twice');
    assert.equal(asked, 3);
  });

  it('reads a chunk again when the source was cut off', async () => {
    const bytes = randomBytes(3500);
    let reads = 0;
    const flaky: CopySource = {
      size: async () => bytes.length,
      read: async (start, end) => {
        if (++reads === 2) throw new Error('tunnel cut while reading');
        return bytes.slice(start, end);
      }
    };
    const dst = target();
    await copyFile(flaky, dst.t, noWait);
    assert.deepEqual(Buffer.from(dst.file()!), bytes);
  });

  it('gives up after its attempts when the far side stays away', async () => {
    const dst = target(() => 'before');
    await assert.rejects(
      copyFile(source(randomBytes(10)), dst.t, { ...noWait, attempts: 3 }),
      /tunnel cut/
    );
  });

  it('makes an empty file', async () => {
    const dst = target();
    await copyFile(source(new Uint8Array()), dst.t, noWait);
    assert.equal(dst.file()!.length, 0);
  });
});

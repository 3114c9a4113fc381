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

type Fate = 'ok' | 'before' | 'half' | 'after';

/**
 * A destination as the write routes keep it (offset 0 creates, any other offset must be the
 * size); `fail` decides each write's fate: lost before it arrived, cut after half of it was
 * written, or written with its answer lost.
 */
function target(fail: (offset: number, call: number) => Fate = () => 'ok') {
  let file: Buffer | undefined;
  let calls = 0;
  const writes: number[] = [];
  const t: CopyTarget = {
    size: async () => file?.length,
    write: async (data, offset) => {
      const fate = fail(offset, ++calls);
      if (fate === 'before') throw new Error('tunnel cut before the chunk arrived');
      if (offset !== 0 && offset !== file?.length) throw new Error(`409: size ${file?.length}`);
      writes.push(offset);
      const landed = fate === 'half' ? data.subarray(0, data.length / 2) : data;
      file = Buffer.concat([offset === 0 ? Buffer.alloc(0) : file!, landed]);
      if (fate === 'half') throw new Error('tunnel cut in the middle of the chunk');
      if (fate === 'after') throw new Error('tunnel cut before the answer arrived');
    }
  };
  return { t, file: () => file, writes };
}

const noWait = { sleep: async () => {}, chunkBytes: 1000 };

describe('copyFile', () => {
  it('copies byte for byte, each chunk at its offset, with progress to the end', async () => {
    const bytes = randomBytes(3500);
    const dst = target();
    const progress: number[] = [];
    await copyFile(source(bytes), dst.t, {
      ...noWait,
      onProgress: copied => progress.push(copied)
    });
    assert.deepEqual(Buffer.from(dst.file()!), bytes);
    assert.deepEqual(dst.writes, [0, 1000, 2000, 3000]);
    assert.deepEqual(progress, [0, 1000, 2000, 3000, 3500]);
  });

  it('sends a chunk again when it was lost on the way', async () => {
    const bytes = randomBytes(3500);
    const dst = target((offset, call) => (offset === 1000 && call === 2 ? 'before' : 'ok'));
    await copyFile(source(bytes), dst.t, noWait);
    assert.deepEqual(Buffer.from(dst.file()!), bytes);
    assert.deepEqual(dst.writes, [0, 1000, 2000, 3000]);
  });

  it('sends the first chunk again whatever the file holds: it makes the file anew', async () => {
    const bytes = randomBytes(3500);
    const dst = target((offset, call) => (call === 1 ? 'half' : 'ok'));
    await copyFile(source(bytes), dst.t, noWait);
    assert.deepEqual(Buffer.from(dst.file()!), bytes);
    assert.deepEqual(dst.writes, [0, 0, 1000, 2000, 3000]);
  });

  it('goes on from where a write cut in the middle ended, no byte twice', async () => {
    const bytes = randomBytes(3500);
    const dst = target((offset, call) => (offset === 2000 && call === 3 ? 'half' : 'ok'));
    await copyFile(source(bytes), dst.t, noWait);
    assert.deepEqual(Buffer.from(dst.file()!), bytes);
    assert.deepEqual(dst.writes, [0, 1000, 2000, 2500, 3000]);
  });

  it('does not send again a chunk that landed but whose answer was lost', async () => {
    const bytes = randomBytes(3500);
    const dst = target((offset, call) => (offset === 2000 && call === 3 ? 'after' : 'ok'));
    await copyFile(source(bytes), dst.t, noWait);
    assert.deepEqual(Buffer.from(dst.file()!), bytes, 'no chunk twice');
    assert.deepEqual(dst.writes, [0, 1000, 2000, 3000]);
  });

  it('asks the destination again, not sends again, while it cannot say what landed', async () => {
    const bytes = randomBytes(3500);
    const dst = target((offset, call) => (offset === 2000 && call === 3 ? 'after' : 'ok'));
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

  it('stops, saying so, when the destination holds what the copy did not write', async () => {
    const dst = target((offset, call) => (call === 2 ? 'before' : 'ok'));
    // Someone else emptied the file meanwhile.
    dst.t.size = async () => 10;
    await assert.rejects(
      copyFile(source(randomBytes(3500)), dst.t, noWait),
      /the copy holds 10 bytes where 1000 to 2000 were expected/
    );
  });

  it('makes an empty file', async () => {
    const dst = target();
    await copyFile(source(new Uint8Array()), dst.t, noWait);
    assert.equal(dst.file()!.length, 0);
  });
});

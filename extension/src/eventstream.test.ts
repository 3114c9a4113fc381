import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readEventStream } from './eventstream';
import { bodyOf } from './testing/streams';

async function events(chunks: (string | Uint8Array)[]): Promise<[string, string][]> {
  const seen: [string, string][] = [];
  await readEventStream(bodyOf(chunks), (event, data) => seen.push([event, data]));
  return seen;
}

describe('readEventStream', () => {
  it('reads named events and unnamed ones as message', async () => {
    assert.deepEqual(await events(['event: session\ndata: {"id":1}\n\ndata: hi\n\n']), [
      ['session', '{"id":1}'],
      ['message', 'hi']
    ]);
  });

  it('joins an event split across reads, and multi-line data', async () => {
    assert.deepEqual(await events(['event: sit', 'es\ndata: a\nda', 'ta: b\n', '\n']), [
      ['sites', 'a\nb']
    ]);
  });

  it('takes CRLF lines, skips comments (keep-alives) and events without data', async () => {
    assert.deepEqual(
      await events([
        ': ping\r\n\r\nevent: session-removed\r\ndata:{"id":"x"}\r\n\r\nevent: empty\n\n'
      ]),
      [['session-removed', '{"id":"x"}']]
    );
  });

  it('decodes a character split between two reads', async () => {
    const bytes = new TextEncoder().encode('data: Zürich\n\n');
    const cut = 8; // between the two bytes of ü
    assert.deepEqual(await events([bytes.slice(0, cut), bytes.slice(cut)]), [
      ['message', 'Zürich']
    ]);
  });

  it('drops an event the stream cut off before its blank line', async () => {
    assert.deepEqual(await events(['data: whole\n\ndata: half']), [['message', 'whole']]);
  });
});

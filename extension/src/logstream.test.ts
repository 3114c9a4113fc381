import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FIRST_TAIL, followLog, TailLines, trimLog, type LogStatus } from './logstream';
import { bodyOf } from './testing/streams';

/** A log server: each connection answers the next of `answers` (chunks, or an error). */
function server(answers: ((string | Uint8Array)[] | Error)[]) {
  const tails: number[] = [];
  const open = async (tail: number) => {
    tails.push(tail);
    const answer = answers.shift();
    if (!answer || answer instanceof Error) {
      throw answer ?? new Error('no more answers');
    }
    return { body: bodyOf(answer) };
  };
  return { open, tails };
}

describe('followLog', () => {
  it('reads one connection to its end, then ends without a reconnect rule', async () => {
    const { open, tails } = server([['line 1\n', 'line 2\n']]);
    let text = '';
    const statuses: LogStatus[] = [];
    await followLog({
      open,
      signal: new AbortController().signal,
      onText: chunk => (text += chunk),
      onStatus: status => statuses.push(status)
    });
    assert.equal(text, 'line 1\nline 2\n');
    assert.deepEqual(tails, [FIRST_TAIL]);
    assert.deepEqual(statuses, [{ kind: 'following' }, { kind: 'ended' }]);
  });

  it('reconnects while told to, asking only for new lines, and says why a connection failed', async () => {
    const { open, tails } = server([['a\n'], new Error('502 Bad Gateway'), ['b\n']]);
    let text = '';
    const statuses: string[] = [];
    let connections = 0;
    await followLog({
      open: tail => {
        connections++;
        return open(tail);
      },
      signal: new AbortController().signal,
      tail: 5,
      retryMs: 1,
      onText: chunk => (text += chunk),
      onStatus: status => statuses.push(status.kind === 'failed' ? status.message : status.kind),
      reconnect: () => connections < 3
    });
    assert.equal(text, 'a\nb\n');
    assert.deepEqual(tails, [5, 0, 0]);
    assert.deepEqual(statuses, ['following', 'following', '502 Bad Gateway', 'following', 'ended']);
  });

  it('decodes characters split between chunks', async () => {
    const bytes = new TextEncoder().encode('née\n');
    const { open } = server([[bytes.slice(0, 2), bytes.slice(2)]]);
    let text = '';
    await followLog({ open, signal: new AbortController().signal, onText: t => (text += t) });
    assert.equal(text, 'née\n');
  });

  it('stops quietly once aborted', async () => {
    const abort = new AbortController();
    const statuses: LogStatus[] = [];
    await followLog({
      open: async () => {
        abort.abort();
        throw new Error('aborted');
      },
      signal: abort.signal,
      onText: () => undefined,
      onStatus: status => statuses.push(status),
      reconnect: () => true
    });
    assert.deepEqual(statuses, [{ kind: 'following' }]);
  });
});

describe('TailLines', () => {
  it('shows the last non-empty lines, across chunks', () => {
    const tail = new TailLines(2);
    assert.deepEqual(tail.push('one\ntw'), ['one', 'tw']);
    assert.deepEqual(tail.push('o\n\nthree\n'), ['two', 'three']);
  });
  it('keeps only the newest characters', () => {
    const tail = new TailLines(5, 6);
    assert.deepEqual(tail.push('abcdef\nxyz'), ['ef', 'xyz']);
  });
});

describe('trimLog', () => {
  it('keeps the newer half of a log past its limit', () => {
    assert.equal(trimLog('0123456789', 10), '0123456789');
    assert.equal(trimLog('0123456789AB', 10), '789AB');
  });
});

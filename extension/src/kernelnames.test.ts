import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { kernelNameFor, remoteKernelNames, sessionIdOf } from './kernelnames';

describe('kernel names', () => {
  it('route interlink-<session> to that session and every other name to local', () => {
    assert.equal(kernelNameFor('abc123'), 'interlink-abc123');
    assert.equal(sessionIdOf(kernelNameFor('abc123')), 'abc123');
    assert.equal(sessionIdOf('python3'), null);
    assert.equal(sessionIdOf(undefined), null);
    assert.equal(sessionIdOf(''), null);
  });

  it('name each remote kernel for where it runs, told apart when two read the same', () => {
    const names = remoteKernelNames([
      { sessionId: 'aaaaaaaa11', specName: 'Python 3', place: 'Leonardo · 1×A100' },
      {
        sessionId: 'bbbbbbbb22',
        specName: 'Python 3',
        place: 'Leonardo · 1×A100',
        sessionName: 'training'
      },
      { sessionId: 'cccccccc33', specName: 'Python 3', place: 'This machine · Small' }
    ]);
    assert.deepEqual(Object.fromEntries(names), {
      aaaaaaaa11: 'Python 3 — Leonardo · 1×A100 (aaaaaaaa)',
      bbbbbbbb22: 'Python 3 — Leonardo · 1×A100 (training)',
      cccccccc33: 'Python 3 — This machine · Small'
    });
  });
});

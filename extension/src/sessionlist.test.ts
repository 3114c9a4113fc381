import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Session } from '@jupyterlab-interlink/contract';
import { SessionList } from './sessionlist';

function session(id: string, fields: Partial<Session> = {}): Session {
  return {
    id,
    site: 'local',
    profile: 'small',
    type: 'kernel',
    state: 'pending',
    owner: 'alice',
    createdAt: '2026-01-01T10:00:00.000Z',
    updatedAt: '2026-01-01T10:00:00.000Z',
    walltime: 3600,
    url: `/interlink/sessions/${id}/`,
    ...fields
  };
}

describe('SessionList', () => {
  it('lists the newest session first', () => {
    const list = new SessionList();
    list.upsert(session('old', { createdAt: '2026-01-01T09:00:00.000Z' }));
    list.upsert(session('new', { createdAt: '2026-01-01T11:00:00.000Z' }));
    list.upsert(session('mid'));
    assert.deepEqual(
      list.all.map(s => s.id),
      ['new', 'mid', 'old']
    );
  });

  it('reports a new session without previous, a change with it', () => {
    const list = new SessionList();
    const first = session('a');
    assert.deepEqual(list.upsert(first), [
      { kind: 'changed', session: first, previous: undefined }
    ]);
    const ready = session('a', { state: 'ready', updatedAt: '2026-01-01T10:01:00.000Z' });
    assert.deepEqual(list.upsert(ready), [{ kind: 'changed', session: ready, previous: first }]);
    assert.equal(list.get('a')?.state, 'ready');
  });

  it('ignores an older copy and an identical one', () => {
    const list = new SessionList();
    list.upsert(session('a', { state: 'ready', updatedAt: '2026-01-01T10:05:00.000Z' }));
    assert.deepEqual(list.upsert(session('a', { state: 'queued' })), []);
    assert.equal(list.get('a')?.state, 'ready');
    assert.deepEqual(
      list.upsert(session('a', { state: 'ready', updatedAt: '2026-01-01T10:05:00.000Z' })),
      []
    );
  });

  it('removes once, and a fresh list drops the sessions it lacks', () => {
    const list = new SessionList();
    list.upsert(session('a'));
    list.upsert(session('b'));
    const c = session('c');
    const changes = list.replaceAll([session('b'), c]);
    assert.deepEqual(
      changes.map(change => [change.kind, change.session.id]),
      [
        ['removed', 'a'],
        ['changed', 'c']
      ]
    );
    assert.deepEqual(list.remove('a'), []);
    assert.deepEqual(
      list.remove('b').map(change => change.kind),
      ['removed']
    );
    assert.deepEqual(
      list.all.map(s => s.id),
      ['c']
    );
  });
});

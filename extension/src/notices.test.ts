import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Session, SessionState } from '@jupyterlab-interlink/contract';
import { dueWarnings, restartsWarning, wantsNotice } from './notices';

function session(id: string, state: SessionState, endsAt?: string): Session {
  return {
    id,
    site: 'local',
    profile: 'small',
    type: 'kernel',
    state,
    owner: 'alice',
    createdAt: '2026-01-01T10:00:00.000Z',
    updatedAt: '2026-01-01T10:00:00.000Z',
    walltime: 3600,
    url: `/interlink/sessions/${id}/`,
    endsAt
  };
}

describe('wantsNotice', () => {
  it('speaks on a state move, and on first sight only of sessions launched here', () => {
    assert.equal(wantsNotice(session('a', 'ready'), session('a', 'starting'), false), true);
    assert.equal(wantsNotice(session('a', 'ready'), session('a', 'ready'), true), false);
    assert.equal(wantsNotice(session('a', 'pending'), undefined, true), true);
    assert.equal(wantsNotice(session('a', 'ready'), undefined, false), false);
  });
  it('re-arms the walltime warning on a move to ready only', () => {
    assert.equal(restartsWarning(session('a', 'ready'), session('a', 'starting')), true);
    assert.equal(restartsWarning(session('a', 'ready'), undefined), false);
    assert.equal(restartsWarning(session('a', 'failed'), session('a', 'ready')), false);
  });
});

describe('dueWarnings', () => {
  const now = Date.parse('2026-01-01T12:00:00.000Z');
  it('picks ready sessions ending within the warning time, once', () => {
    const sessions = [
      session('soon', 'ready', '2026-01-01T12:10:00.000Z'),
      session('later', 'ready', '2026-01-01T13:00:00.000Z'),
      session('over', 'ready', '2026-01-01T11:59:00.000Z'),
      session('queued', 'queued', '2026-01-01T12:05:00.000Z'),
      session('open-ended', 'ready'),
      session('warned', 'ready', '2026-01-01T12:01:00.000Z')
    ];
    const due = dueWarnings(sessions, now, 15 * 60, new Set(['warned']));
    assert.deepEqual(
      due.map(d => [d.session.id, d.left]),
      [['soon', 600]]
    );
    assert.deepEqual(
      dueWarnings(sessions, now, 5 * 60, new Set()).map(d => d.session.id),
      ['warned']
    );
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Profile, Session, Site } from '@jupyterlab-interlink/contract';
import {
  monthLine,
  usageLine,
  agentLabel,
  takeoverWords,
  exitWords,
  healthLabel,
  kindLabel,
  placeLabel,
  queueWords,
  resourcesLabel,
  stateLabel,
  timeLine
} from './format';
import { english } from './testing/translation';

const a100: Profile = {
  id: 'a100',
  displayName: '1×A100',
  resources: { cpu: 8, memory: '64Gi', gpu: 1, gpuType: 'A100' },
  maxWalltime: 86400,
  defaultWalltime: 3600
};
const leonardo = { displayName: 'Leonardo', profiles: [a100] } as Pick<
  Site,
  'displayName' | 'profiles'
>;

function session(fields: Partial<Session>): Session {
  return {
    id: 's1',
    site: 'leonardo',
    profile: 'a100',
    type: 'kernel',
    state: 'ready',
    owner: 'alice',
    createdAt: '2026-01-01T10:00:00.000Z',
    updatedAt: '2026-01-01T10:00:00.000Z',
    walltime: 3600,
    url: '/interlink/sessions/s1/',
    ...fields
  };
}

describe('placeLabel', () => {
  it('names site and profile by their display names', () => {
    assert.equal(placeLabel(leonardo, { site: 'leonardo', profile: 'a100' }), 'Leonardo · 1×A100');
  });
  it('adds the environment the session runs in, by its name', () => {
    const site = { ...leonardo, environments: [{ id: 'torch', displayName: 'PyTorch 2.3' }] };
    assert.equal(
      placeLabel(site, { site: 'leonardo', profile: 'a100', environment: 'torch' }),
      'Leonardo · 1×A100 · PyTorch 2.3'
    );
  });
  it('falls back to the ids it cannot name', () => {
    assert.equal(placeLabel(undefined, { site: 'gone', profile: 'x' }), 'gone · x');
    assert.equal(placeLabel(leonardo, { site: 'leonardo', profile: 'old' }), 'Leonardo · old');
  });
});

describe('labels', () => {
  it('says the kind, the health and the resources in words', () => {
    assert.deepEqual((['hpc', 'htc', 'cloud'] as const).map(kindLabel), ['HPC', 'HTC', 'Cloud']);
    assert.equal(healthLabel('ok', english), 'Available');
    assert.equal(healthLabel('unknown', english), 'Status unknown');
    assert.equal(resourcesLabel(a100, english), '8 CPUs · 64Gi · 1×A100');
    const one = { ...a100, resources: { cpu: 1, memory: '2Gi', gpu: 0 } };
    assert.equal(resourcesLabel(one, english), '1 CPU · 2Gi');
  });
  it('gives each state its own word', () => {
    const states = [
      'pending',
      'queued',
      'starting',
      'ready',
      'stopping',
      'completed',
      'failed',
      'cancelled',
      'expired'
    ] as const;
    const words = states.map(s => stateLabel(s, english));
    assert.equal(new Set(words).size, states.length);
    assert.equal(stateLabel('cancelled', english), 'Stopped');
    assert.equal(stateLabel('expired', english), 'Walltime over');
  });
});

describe('timeLine', () => {
  const start = Date.parse('2026-01-01T10:00:00.000Z');
  it('counts the wait of a queued session', () => {
    const line = timeLine(session({ state: 'queued' }), start + 125_000, english);
    assert.equal(line, 'waiting 0:02:05');
  });
  it('counts elapsed and remaining walltime of a running one', () => {
    const running = session({
      startedAt: '2026-01-01T10:00:00.000Z',
      endsAt: '2026-01-01T11:00:00.000Z'
    });
    assert.equal(timeLine(running, start + 600_000, english), 'running 0:10:00 · 0:50:00 left');
    assert.equal(timeLine(running, start + 7_200_000, english), 'running 2:00:00 · 0:00:00 left');
  });
  it('says how long an ended one ran, or that it never started', () => {
    const ended = session({
      state: 'completed',
      startedAt: '2026-01-01T10:00:00.000Z',
      updatedAt: '2026-01-01T10:30:00.000Z'
    });
    assert.equal(timeLine(ended, start + 99_999_999, english), 'ran 0:30:00');
    assert.equal(timeLine(session({ state: 'failed' }), start, english), 'never started');
  });
});

describe('exitWords', () => {
  it('says nothing for success or a reason that already says it', () => {
    assert.equal(exitWords(0, undefined, english), null);
    assert.equal(exitWords(undefined, 'gone', english), null);
    assert.equal(exitWords(137, 'Out of memory (8Gi)', english), null);
    assert.equal(exitWords(3, 'exited with code 3', english), null);
  });
  it('reads signals from exit codes above 128', () => {
    assert.match(exitWords(137, undefined, english)!, /killed \(signal 9\)/);
    assert.equal(
      exitWords(139, undefined, english),
      'The job was crashed (segmentation fault) (signal 11).'
    );
    assert.equal(exitWords(2, 'failed', english), 'It exited with code 2.');
  });
});

describe('queueWords', () => {
  it("puts the scheduler's reason in words and keeps its code", () => {
    assert.equal(
      queueWords('Resources', english),
      'the CPUs, GPUs or memory it asks for are in use (Resources)'
    );
    assert.match(queueWords('QOSMaxJobsPerUserLimit', english), /a limit of your account/);
    assert.equal(queueWords('SomethingNew', english), 'SomethingNew');
  });
});

describe('takeovers', () => {
  it('names both agents and says what to do', () => {
    const previous = { pid: 1234, host: 'lrdn0007', address: '10.0.0.5', connectedAt: 'x' };
    const current = { pid: 99, host: 'laptop', address: '192.0.2.1', connectedAt: 'y' };
    assert.equal(agentLabel(previous), '1234@lrdn0007 (10.0.0.5)');
    assert.equal(agentLabel({ connectedAt: 'z' }), '?');
    const words = takeoverWords(
      { at: '2026-12-05T10:00:00Z', previous, current },
      'Leonardo · 1×A100',
      english
    );
    assert.match(words, /^Another agent took over the connection of Leonardo · 1×A100 at /);
    assert.match(words, /99@laptop \(192\.0\.2\.1\), before it 1234@lrdn0007 \(10\.0\.0\.5\)/);
    assert.match(words, /stop the session/);
  });
});

describe('usage', () => {
  it('says what a node uses now, GPUs included', () => {
    const usage = {
      at: 'x',
      cpu: { percent: 12.4, cores: 64 },
      memory: { usedBytes: 3.1 * 1024 ** 3, totalBytes: 16 * 1024 ** 3 },
      gpus: [
        { index: 0, name: 'A100', utilization: 37, memoryUsedMiB: 1024, memoryTotalMiB: 40960 }
      ]
    };
    assert.equal(
      usageLine(usage, english),
      'CPU 12% of 64 cores · memory 3.1 / 16.0 GiB · GPU 0 37%, 1.0 / 40.0 GiB'
    );
  });
  it('says what a user used on a site this month, and their budget', () => {
    assert.equal(
      monthLine(
        { site: 's', gpuHours: 12.46, coreHours: 100, budget: '1234 of 5000 left' },
        english
      ),
      'This month: 12.5 GPU-hours · 100.0 core-hours · 1234 of 5000 left'
    );
  });
});

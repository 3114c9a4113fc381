import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Site } from '@jupyterlab-interlink/contract';
import { FORM_FIELDS, formProblem, launchRequest, type ILaunchFields } from './launchform';
import { english } from './testing/translation';

const site: Site = {
  id: 'local',
  displayName: 'This machine',
  kind: 'cloud',
  driver: 'local',
  health: { status: 'ok' },
  profiles: [
    {
      id: 'small',
      displayName: 'Small',
      resources: { cpu: 1, memory: '2Gi', gpu: 0 },
      maxWalltime: 8 * 3600,
      defaultWalltime: 3600
    }
  ]
};
const kernel: ILaunchFields = {
  profile: 'small',
  walltime: '1:00:00',
  type: 'kernel',
  path: '',
  name: ''
};

describe('launchRequest', () => {
  it('names the environment chosen, and the rules refuse one the site lacks', () => {
    const withEnvironments: Site = {
      ...site,
      environments: [
        { id: 'system', displayName: 'System Python' },
        { id: 'torch', displayName: 'PyTorch 2.3' }
      ]
    };
    assert.equal(
      launchRequest(withEnvironments, { ...kernel, environment: 'torch' }).environment,
      'torch'
    );
    assert.equal('environment' in launchRequest(withEnvironments, kernel), false);
    assert.equal(formProblem(withEnvironments, { ...kernel, environment: 'torch' }, english), null);
    const problem = formProblem(withEnvironments, { ...kernel, environment: 'conda' }, english);
    assert.equal(problem?.field, 'environment');
    assert.match(problem?.message ?? '', /available: system, torch/);
    assert.ok(FORM_FIELDS.includes('environment'), 'shown beside its field');
  });

  it('carries the ports of a kernel session, and the rules name a bad one', () => {
    assert.deepEqual(launchRequest(site, { ...kernel, ports: '6006, 8787' }).ports, [6006, 8787]);
    assert.equal('ports' in launchRequest(site, { ...kernel, ports: ' ' }), false);
    assert.equal('ports' in launchRequest(site, { ...kernel, type: 'job', ports: '6006' }), false);
    const problem = formProblem(site, { ...kernel, ports: '6006 tb' }, english);
    assert.equal(problem?.field, 'ports');
    assert.match(problem?.message ?? '', /"tb" is not one/);
    assert.equal(formProblem(site, { ...kernel, ports: '6006 6006' }, english)?.field, 'ports');
  });
  it('sends the walltime in seconds and only the fields that are set', () => {
    assert.deepEqual(launchRequest(site, kernel), {
      site: 'local',
      profile: 'small',
      type: 'kernel',
      walltime: 3600
    });
    assert.deepEqual(
      launchRequest(site, { ...kernel, walltime: ' ', type: 'job', path: 'a.py', name: 'run' }),
      { site: 'local', profile: 'small', type: 'job', path: 'a.py', name: 'run' }
    );
  });
  it('keeps a path only for a job, and unparsable walltime text as it is', () => {
    const request = launchRequest(site, { ...kernel, walltime: 'soon', path: 'a.py' });
    assert.equal(request.walltime, 'soon');
    assert.equal('path' in request, false);
  });
});

describe('formProblem', () => {
  it('lets a valid form through', () => {
    assert.equal(formProblem(site, kernel, english), null);
    assert.equal(formProblem(site, { ...kernel, walltime: '' }, english), null);
    assert.equal(formProblem(site, { ...kernel, type: 'job', path: 'a.py' }, english), null);
  });
  it('says how to write a walltime it cannot read', () => {
    assert.deepEqual(formProblem(site, { ...kernel, walltime: 'ten minutes' }, english), {
      field: 'walltime',
      message: 'walltime: write it as H:MM:SS, D-HH:MM:SS or minutes'
    });
  });
  it("holds the walltime between a minute and the profile's maximum, as the server does", () => {
    const over = formProblem(site, { ...kernel, walltime: '100:00:00' }, english);
    assert.equal(over?.field, 'walltime');
    assert.match(over!.message, /^walltime: at most 8:00:00/);
    const under = formProblem(site, { ...kernel, walltime: '0:00:30' }, english);
    assert.equal(under?.field, 'walltime');
    assert.match(under!.message, /at least 0:01:00/);
  });
  it('wants the file a job runs, beside the path field', () => {
    const problem = formProblem(site, { ...kernel, type: 'job' }, english);
    assert.equal(problem?.field, 'path');
    assert.ok(FORM_FIELDS.includes(problem!.field!));
  });
  it('names a profile the site does not have', () => {
    assert.equal(formProblem(site, { ...kernel, profile: 'gone' }, english)?.field, 'profile');
  });
});

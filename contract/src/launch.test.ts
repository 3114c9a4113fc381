import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkLaunch, maxWalltimeOf, walltimeOf, type LaunchSite } from './launch.js';

const site: LaunchSite = {
  id: 'leonardo',
  displayName: 'Leonardo',
  maxWalltime: 4 * 3600,
  maxSessionsPerUser: 2,
  profiles: [
    { id: 'small', maxWalltime: 8 * 3600, defaultWalltime: 5 * 3600 },
    { id: 'short', maxWalltime: 3600 }
  ]
};
const kernel = { site: 'leonardo', profile: 'small', type: 'kernel' };

describe('checkLaunch', () => {
  it('lets a well-formed launch within every limit through', () => {
    assert.equal(checkLaunch(site, kernel), undefined);
    assert.equal(checkLaunch(site, { ...kernel, walltime: 4 * 3600 }), undefined);
    assert.equal(checkLaunch(site, { ...kernel, type: 'job', path: 'a.ipynb' }), undefined);
    assert.equal(checkLaunch(site, { ...kernel, type: 'job', command: ['true'] }), undefined);
    assert.equal(checkLaunch(site, kernel, { liveSessions: 1 }), undefined);
  });

  it('names the schema field at fault first', () => {
    const problem = checkLaunch(site, { ...kernel, type: 'daemon' });
    assert.equal(problem?.field, 'type');
    assert.equal(problem?.error, 'invalid_field');
    assert.equal(checkLaunch(site, { ...kernel, gpus: 4 })?.field, 'gpus');
    assert.equal(checkLaunch(site, { ...kernel, walltime: 'long' })?.field, 'walltime');
  });

  it('refuses under a minute with the shortest walltime in words', () => {
    assert.deepEqual(checkLaunch(site, { ...kernel, walltime: 30 }), {
      error: 'invalid_field',
      field: 'walltime',
      message: 'walltime: at least 0:01:00'
    });
  });

  it('names the known sites for an unknown one', () => {
    const problem = checkLaunch(undefined, { ...kernel, site: 'nowhere' }, { siteIds: ['a', 'b'] });
    assert.equal(problem?.field, 'site');
    assert.equal(problem?.message, 'site: unknown site "nowhere"; available: a, b');
    assert.equal(checkLaunch(site, { ...kernel, site: 'other' })?.field, 'site');
  });

  it("names the site's profiles for an unknown one", () => {
    const problem = checkLaunch(site, { ...kernel, profile: 'huge' });
    assert.equal(problem?.field, 'profile');
    assert.match(problem!.message, /no profile "huge"; available: small, short/);
  });

  it("holds the walltime to the lower of the profile's and the site's maximum", () => {
    const overSite = checkLaunch(site, { ...kernel, walltime: 4 * 3600 + 60 });
    assert.equal(overSite?.field, 'walltime');
    assert.match(overSite!.message, /^walltime: at most 4:00:00 /);
    assert.match(overSite!.message, /4:01:00 is above the 4:00:00/);
    const overProfile = checkLaunch(site, { ...kernel, profile: 'short', walltime: 3660 });
    assert.match(overProfile!.message, /at most 1:00:00 with profile "short"/);
  });

  it('wants something to run for a job', () => {
    const problem = checkLaunch(site, { ...kernel, type: 'job' });
    assert.equal(problem?.field, 'path');
    assert.match(problem!.message, /notebook or script/);
  });

  it('counts live sessions against the per-user limit only when told them', () => {
    const problem = checkLaunch(site, kernel, { liveSessions: 2 });
    assert.equal(problem?.error, 'limit_reached');
    assert.equal(problem?.field, 'site');
    assert.match(problem!.message, /2 live session\(s\) on "Leonardo"/);
    assert.equal(
      checkLaunch({ ...site, maxSessionsPerUser: undefined }, kernel, { liveSessions: 9 }),
      undefined
    );
  });
});

describe('walltime of a launch', () => {
  it("defaults to the profile's default, within the maximum", () => {
    assert.equal(maxWalltimeOf(site, site.profiles[0]), 4 * 3600);
    assert.equal(walltimeOf(site, site.profiles[0], {}), 4 * 3600);
    assert.equal(walltimeOf(site, site.profiles[1], {}), 3600);
    assert.equal(walltimeOf(site, site.profiles[1], { walltime: 120 }), 120);
    assert.equal(maxWalltimeOf({ ...site, maxWalltime: undefined }, site.profiles[0]), 8 * 3600);
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  defaultLocalSite,
  loadSitesFile,
  parseSites,
  SiteConfigError,
  validateSites
} from './sites.js';

const good = () => ({
  id: 'leonardo',
  displayName: 'Leonardo',
  kind: 'hpc',
  driver: 'kubernetes',
  maxWalltime: 86400,
  nodeSelector: { 'kubernetes.io/hostname': 'leonardo-vk' },
  profiles: [
    {
      id: 'a100',
      displayName: 'A100',
      resources: { cpu: 8, memory: '64Gi', gpu: 1 },
      maxWalltime: 14400
    }
  ]
});

test('validateSites accepts good sites and the default local site', () => {
  assert.equal(validateSites([good(), defaultLocalSite()]).length, 2);
  const onSocket = {
    ...good(),
    driver: 'interlink',
    interlink: { url: 'unix:///run/interlink/api.sock' },
    pluginAnnotations: { 'slurm-job.vk.io/image-root': '/leonardo/images' },
    tolerations: [{ key: 'site.example/maintenance', operator: 'Exists', effect: 'NoSchedule' }]
  };
  assert.equal(validateSites([onSocket]).length, 1);
  assert.equal(validateSites({ sites: [defaultLocalSite()] })[0].id, 'local');
});

const bad: { name: string; mutate: (s: ReturnType<typeof good>) => unknown; field: RegExp }[] = [
  {
    name: 'unknown driver',
    mutate: s => ({ ...s, driver: 'nomad' }),
    field: /site "leonardo", field driver: unknown driver "nomad"/
  },
  {
    name: 'missing nodeSelector',
    mutate: s => ({ ...s, nodeSelector: undefined }),
    field: /site "leonardo", field nodeSelector: is required for the kubernetes driver/
  },
  {
    name: 'empty nodeSelector on interlink',
    mutate: s => ({ ...s, driver: 'interlink', interlink: { url: 'http://x' }, nodeSelector: {} }),
    field: /field nodeSelector: is required for the interlink driver/
  },
  {
    name: 'profile above the site maximum',
    mutate: s => ({ ...s, maxWalltime: 3600 }),
    field:
      /site "leonardo", field profiles\[0\]\.maxWalltime: profile "a100" allows 14400 s, above the site's maxWalltime of 3600 s/
  },
  { name: 'unknown kind', mutate: s => ({ ...s, kind: 'grid' }), field: /field kind/ },
  {
    name: 'bad memory',
    mutate: s => ({
      ...s,
      profiles: [{ ...s.profiles[0], resources: { cpu: 1, memory: 'lots', gpu: 0 } }]
    }),
    field: /profiles\[0\]\.resources\.memory/
  },
  {
    name: 'no profiles',
    mutate: s => ({ ...s, profiles: [] }),
    field: /field profiles: at least one/
  },
  {
    name: 'agentCommand not a list',
    mutate: s => ({ ...s, agentCommand: 'node agent.js' }),
    field: /field agentCommand/
  },
  {
    name: 'slurm flags not a list',
    mutate: s => ({ ...s, slurm: { flags: '--qos=x' } }),
    field: /field slurm\.flags/
  },
  {
    name: 'plugin annotation of another prefix',
    mutate: s => ({ ...s, pluginAnnotations: { 'example.org/x': 'y' } }),
    field:
      /field pluginAnnotations\["example\.org\/x"\]: must start with slurm-job\.vk\.io\/ or htcondor-job\.vk\.io\//
  },
  {
    name: 'flags through pluginAnnotations',
    mutate: s => ({ ...s, pluginAnnotations: { 'slurm-job.vk.io/flags': '--qos=x' } }),
    field: /pluginAnnotations\["slurm-job\.vk\.io\/flags"\]: comes from slurm\.flags/
  },
  {
    name: 'toleration without key',
    mutate: s => ({ ...s, tolerations: [{ operator: 'Exists' }] }),
    field: /field tolerations\[0\]\.key: is required/
  },
  {
    name: 'toleration with a bad effect',
    mutate: s => ({ ...s, tolerations: [{ key: 'site', value: 'x', effect: 'Never' }] }),
    field: /field tolerations\[0\]\.effect: must be NoSchedule, PreferNoSchedule or NoExecute/
  },
  {
    name: 'interlink url of another scheme',
    mutate: s => ({ ...s, driver: 'interlink', interlink: { url: 'ftp://x' } }),
    field: /field interlink\.url: .*unix:\/\/\/path\/to\.sock or an http\(s\) URL/
  },
  {
    name: 'interlink insecure not a boolean',
    mutate: s => ({ ...s, driver: 'interlink', interlink: { url: 'https://x', insecure: 'yes' } }),
    field: /field interlink\.insecure: must be true or false/
  },
  {
    name: 'a nodeSelector value that is not a string',
    mutate: s => ({ ...s, nodeSelector: { 'kubernetes.io/hostname': 3 } }),
    field: /site "leonardo", field nodeSelector\.kubernetes\.io\/hostname: values must be strings/
  },
  {
    name: 'remoteUi not one of its two words',
    mutate: s => ({ ...s, remoteUi: 'yes' }),
    field: /field remoteUi: must be sandboxed or trusted/
  },
  {
    name: 'interlink without url',
    mutate: s => ({ ...s, driver: 'interlink' }),
    field: /field interlink\.url/
  },
  {
    name: 'runAs with nothing to map by',
    mutate: s => ({ ...s, runAs: {} }),
    field: /field runAs: needs template \("\{username\}"\), map or command; or shared: true/
  },
  {
    name: 'runAs command beside a template',
    mutate: s => ({ ...s, runAs: { command: ['/usr/local/sbin/map'], template: '{username}' } }),
    field: /field runAs\.command: answers for every user: leave template and map out/
  },
  {
    name: 'runAs command as one string',
    mutate: s => ({ ...s, runAs: { command: '/usr/local/sbin/map {username}' } }),
    field: /field runAs\.command: must be a non-empty list of strings/
  },
  {
    name: 'runAs template with a misspelt placeholder',
    mutate: s => ({ ...s, runAs: { template: 'hpc-{user}' } }),
    field:
      /field runAs\.template: \{user\} is not known: \{username\} \(the hub user's name\) is the only one/
  },
  {
    name: 'runAs command with a misspelt placeholder',
    mutate: s => ({ ...s, runAs: { command: ['/usr/local/sbin/map', '{name}'] } }),
    field: /field runAs\.command\[1\]: \{name\} is not known/
  },
  {
    name: 'runAs template that cannot give an account name',
    mutate: s => ({ ...s, runAs: { template: '{username}@hpc' } }),
    field: /field runAs\.template: "\{username\}@hpc" cannot give a Unix account name/
  },
  {
    name: 'runAs map to something not an account name',
    mutate: s => ({ ...s, runAs: { map: { alice: '../root' } } }),
    field: /field runAs\.map\.alice: "\.\.\/root" is not a Unix account name/
  },
  {
    name: 'runAs map to a number',
    mutate: s => ({ ...s, runAs: { map: { alice: 1001 } } }),
    field: /field runAs\.map\.alice: must be an account name/
  },
  {
    name: 'runAs shared not a boolean',
    mutate: s => ({ ...s, runAs: { shared: 'yes' } }),
    field: /field runAs\.shared: must be true or false/
  }
];

for (const c of bad) {
  test(`validateSites refuses: ${c.name}`, () => {
    assert.throws(
      () => validateSites([c.mutate(good())]),
      (err: unknown) => err instanceof SiteConfigError && c.field.test(err.message)
    );
  });
}

test('validateSites refuses duplicate ids and reports every problem at once', () => {
  assert.throws(
    () => validateSites([good(), { ...good(), driver: 'nope' }]),
    (err: unknown) =>
      err instanceof SiteConfigError &&
      err.problems.length === 2 &&
      /field id: duplicate id/.test(err.message) &&
      /field driver: unknown driver "nope"/.test(err.message)
  );
});

test('loadSitesFile reads YAML with human durations and refuses a bad file naming it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sites-'));
  try {
    const file = join(dir, 'sites.yaml');
    await writeFile(
      file,
      `sites:
  - id: leonardo
    displayName: Leonardo
    kind: hpc
    driver: slurm
    maxWalltime: 24h
    slurm: { partition: debug, flags: ["--qos=normal"] }
    profiles:
      - id: a100
        displayName: 1×A100
        resources: { cpu: 8, memory: 64Gi, gpu: 1 }
        maxWalltime: "4:00:00"
        defaultWalltime: 30m
`
    );
    const [site] = await loadSitesFile(file);
    assert.equal(site.maxWalltime, 86400);
    assert.equal(site.profiles[0].maxWalltime, 14400);
    assert.equal(site.profiles[0].defaultWalltime, 1800);
    assert.deepEqual(site.slurm?.flags, ['--qos=normal']);

    await writeFile(
      file,
      `sites:\n  - id: x\n    displayName: X\n    kind: hpc\n    driver: kubernetes\n    profiles: []\n`
    );
    await assert.rejects(
      loadSitesFile(file),
      (err: Error) => err.message.includes(file) && /site "x", field nodeSelector/.test(err.message)
    );
    await writeFile(file, `sites: [\n`);
    await assert.rejects(loadSitesFile(file), /not valid YAML/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('parseSites takes an already parsed document and names its origin, site and field', () => {
  const [site] = parseSites(
    {
      sites: [
        {
          id: 'local',
          displayName: 'Here',
          kind: 'cloud',
          driver: 'local',
          profiles: [
            {
              id: 'small',
              displayName: 'Small',
              resources: { cpu: 1, memory: '1Gi', gpu: 0 },
              maxWalltime: '2h'
            }
          ]
        }
      ]
    },
    'INTERLINK_SITES_JSON'
  );
  assert.equal(site.profiles[0].maxWalltime, 7200);
  assert.throws(
    () =>
      parseSites(
        [{ id: 'gpu', displayName: 'GPU', kind: 'grid', driver: 'local', profiles: [] }],
        'INTERLINK_SITES_JSON'
      ),
    (err: Error) =>
      err.message.startsWith('INTERLINK_SITES_JSON: ') &&
      /site "gpu", field kind/.test(err.message) &&
      /site "gpu", field profiles/.test(err.message)
  );
  assert.throws(
    () => parseSites({ site: [] }, 'INTERLINK_SITES_JSON'),
    /INTERLINK_SITES_JSON must/
  );
});

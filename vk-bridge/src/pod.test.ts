import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { AGENT_ENV, agentEnvironment, sessionPath } from '@jupyterlab-interlink/contract';
import { buildPod, labelValue, readPodMetadata, SECRET_FILE } from './pod.js';
import { ANNOTATIONS, LABELS, type LaunchSpec, type SiteConfig } from './types.js';

const hpc: SiteConfig = {
  id: 'leonardo',
  displayName: 'Leonardo',
  kind: 'hpc',
  driver: 'kubernetes',
  namespace: 'interlink',
  nodeSelector: { 'kubernetes.io/hostname': 'leonardo-vk' },
  image: 'registry.example/agent:1',
  maxWalltime: 24 * 3600,
  slurm: {
    partition: 'boost_usr_prod',
    account: 'proj123',
    flags: ['--qos=normal'],
    preExec: 'module load cuda'
  },
  profiles: [
    {
      id: 'a100',
      displayName: '1×A100',
      resources: { cpu: 8, memory: '64Gi', gpu: 1, gpuType: 'A100' },
      maxWalltime: 4 * 3600,
      partition: 'boost_usr_dbg',
      slurmFlags: ['--exclusive']
    }
  ]
};
const htc: SiteConfig = {
  id: 'infn-htc',
  displayName: 'INFN HTCondor',
  kind: 'htc',
  driver: 'interlink',
  nodeSelector: { 'kubernetes.io/hostname': 'htc-vk' },
  interlink: { url: 'http://127.0.0.1:3000' },
  profiles: [
    {
      id: 'cpu',
      displayName: '2 CPU',
      resources: { cpu: 0.5, memory: '3Gi', gpu: 0 },
      maxWalltime: 3600
    }
  ]
};
const cloud: SiteConfig = {
  id: 'local',
  displayName: 'This machine',
  kind: 'cloud',
  driver: 'local',
  profiles: [
    {
      id: 'small',
      displayName: 'Small',
      resources: { cpu: 1, memory: '2Gi', gpu: 0 },
      maxWalltime: 8 * 3600
    }
  ]
};

/** A launch as the proxy server under JupyterHub gives it, with the site's extra agent env. */
function spec(site: SiteConfig, extra: Partial<LaunchSpec> = {}): LaunchSpec {
  const base = {
    sessionId: 'abc123',
    site,
    profile: site.profiles[0],
    user: { name: 'Alice@Example.org', groups: ['physics', 'gpu-users'] },
    type: 'kernel' as LaunchSpec['type'],
    walltime: 5400,
    createdAt: '2026-11-25T04:00:00.000Z',
    ...extra
  };
  const env = agentEnvironment(
    {
      sessionId: base.sessionId,
      type: base.type,
      tunnelUrl: 'wss://hub.example/services/interlink/tunnel',
      baseUrl: sessionPath('/services/interlink', base.sessionId),
      site: base.site.id,
      profile: base.profile.id,
      walltime: base.walltime,
      user: base.user.name,
      groups: base.user.groups ?? [],
      path: base.path,
      command: base.command
    },
    { HTTPS_PROXY: 'http://proxy:3128', INTERLINK_SESSION_ID: 'spoofed' }
  );
  return {
    ...base,
    agent: {
      command: ['node', '/opt/interlink/agent.js'],
      env,
      secret: 'topsecret-value-0123456789abcdef',
      secretHash: 'f'.repeat(64),
      secretFileEnv: AGENT_ENV.secretFile
    }
  };
}

function envOf(pod: V1Pod): Record<string, string> {
  return Object.fromEntries(pod.spec!.containers[0].env!.map(e => [e.name, e.value ?? '']));
}

const cases: {
  name: string;
  spec: LaunchSpec;
  namespace: string;
  nodeSelector?: Record<string, string>;
  flags?: string;
  preExec?: string;
  limits: Record<string, string>;
  image: string;
}[] = [
  {
    name: 'HPC (Slurm) site with one GPU',
    spec: spec(hpc),
    namespace: 'interlink',
    nodeSelector: { 'kubernetes.io/hostname': 'leonardo-vk' },
    flags:
      '--partition=boost_usr_dbg --account=proj123 --qos=normal --exclusive --gres=gpu:1 --time=1:30:00 --cpus-per-task=8 --mem=65536M',
    preExec: 'module load cuda',
    limits: { cpu: '8', memory: '64Gi', 'nvidia.com/gpu': '1' },
    image: 'registry.example/agent:1'
  },
  {
    name: 'HTC site, fractional CPU, no GPU, no Slurm',
    spec: spec(htc, { walltime: 600 }),
    namespace: 'default',
    nodeSelector: { 'kubernetes.io/hostname': 'htc-vk' },
    limits: { cpu: '500m', memory: '3Gi' },
    image: 'ghcr.io/jupyterlab-interlink/agent:latest'
  },
  {
    name: 'cloud site on this machine',
    spec: spec(cloud),
    namespace: 'default',
    limits: { cpu: '1', memory: '2Gi' },
    image: 'ghcr.io/jupyterlab-interlink/agent:latest'
  }
];

for (const c of cases) {
  test(`buildPod: ${c.name}`, () => {
    const { pod, secrets, configMaps } = buildPod(c.spec);
    const md = pod.metadata!;
    assert.equal(md.name, 'interlink-abc123');
    assert.equal(md.namespace, c.namespace);
    assert.equal(md.labels![LABELS.managedBy], 'jupyterlab-interlink');
    assert.equal(md.labels![LABELS.session], 'abc123');
    assert.equal(md.labels![LABELS.site], c.spec.site.id);
    assert.equal(md.labels![LABELS.type], 'kernel');
    // label values must be DNS-safe; the annotation keeps the name as given
    assert.match(md.labels![LABELS.user], /^[A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9]$/);
    assert.equal(md.annotations![ANNOTATIONS.user], 'Alice@Example.org');
    assert.deepEqual(JSON.parse(md.annotations![ANNOTATIONS.groups]), ['physics', 'gpu-users']);
    assert.equal(md.annotations![ANNOTATIONS.walltime], String(c.spec.walltime));
    assert.equal(md.annotations![ANNOTATIONS.secretHash], 'f'.repeat(64));
    assert.equal(md.annotations![ANNOTATIONS.createdAt], c.spec.createdAt);
    assert.equal(md.annotations![ANNOTATIONS.slurmFlags], c.flags);
    assert.equal(md.annotations![ANNOTATIONS.slurmPreExec], c.preExec);

    const s = pod.spec!;
    assert.deepEqual(s.nodeSelector, c.nodeSelector);
    assert.deepEqual(s.tolerations, [
      { key: 'virtual-node.interlink/no-schedule', operator: 'Exists' }
    ]);
    assert.equal(s.restartPolicy, 'Never');
    assert.equal(s.activeDeadlineSeconds, c.spec.walltime);
    assert.equal(s.containers.length, 1);
    const ctr = s.containers[0];
    assert.equal(ctr.name, 'agent');
    assert.equal(ctr.image, c.image);
    assert.deepEqual(ctr.command, ['node', '/opt/interlink/agent.js']);
    assert.deepEqual(ctr.resources!.limits, c.limits);
    assert.deepEqual(ctr.resources!.requests, c.limits);

    const env = envOf(pod);
    assert.equal(env.INTERLINK_SESSION_ID, 'abc123', 'extra env cannot override the session id');
    assert.equal(env.INTERLINK_TUNNEL_URL, 'wss://hub.example/services/interlink/tunnel');
    assert.equal(env.INTERLINK_BASE_URL, '/services/interlink/sessions/abc123/');
    assert.equal(env.INTERLINK_SECRET_FILE, SECRET_FILE);
    assert.equal(env.INTERLINK_SESSION_TYPE, 'kernel');
    assert.equal(env.JUPYTERHUB_USER, 'Alice@Example.org');
    assert.equal(env.HTTPS_PROXY, 'http://proxy:3128');
    assert.equal(env.INTERLINK_JOB_COMMAND, undefined);
    // the secret is in the Secret, mounted where INTERLINK_SECRET_FILE points, never in env
    assert.ok(!JSON.stringify(pod).includes('topsecret'), 'secret must not appear in the pod');
    assert.equal(secrets.length, 1);
    assert.equal(configMaps.length, 0);
    assert.equal(Buffer.from(secrets[0].data!.token, 'base64').toString(), c.spec.agent.secret);
    assert.equal(secrets[0].metadata!.namespace, c.namespace);
    const vol = s.volumes!.find(v => v.secret?.secretName === secrets[0].metadata!.name);
    assert.ok(vol);
    const mount = ctr.volumeMounts!.find(m => m.name === vol.name)!;
    assert.equal(`${mount.mountPath}/token`, env.INTERLINK_SECRET_FILE);

    const meta = readPodMetadata(pod)!;
    assert.equal(meta.sessionId, 'abc123');
    assert.equal(meta.user, 'Alice@Example.org');
    assert.deepEqual(meta.groups, ['physics', 'gpu-users']);
    assert.equal(meta.walltime, c.spec.walltime);
  });
}

test('buildPod: job sessions carry the path or the command as JSON argv', () => {
  const { pod } = buildPod(
    spec(hpc, {
      type: 'job',
      path: 'analysis/run.ipynb',
      command: ['python3', '-c', 'print("a b")'],
      name: 'nightly'
    })
  );
  const env = envOf(pod);
  assert.equal(env.INTERLINK_SESSION_TYPE, 'job');
  assert.equal(env.INTERLINK_JOB_PATH, 'analysis/run.ipynb');
  assert.deepEqual(JSON.parse(env.INTERLINK_JOB_COMMAND), ['python3', '-c', 'print("a b")']);
  assert.equal(pod.metadata!.labels![LABELS.type], 'job');
  assert.equal(pod.metadata!.annotations![ANNOTATIONS.path], 'analysis/run.ipynb');
  assert.equal(pod.metadata!.annotations![ANNOTATIONS.name], 'nightly');
});

test('buildPod: short walltimes still give Slurm a whole minute; bad session ids are refused', () => {
  const { pod } = buildPod(spec(hpc, { walltime: 61 }));
  assert.match(pod.metadata!.annotations![ANNOTATIONS.slurmFlags], /--time=0:02:00/);
  assert.equal(pod.spec!.activeDeadlineSeconds, 61);
  assert.throws(() => buildPod(spec(hpc, { sessionId: 'Bad_ID' })), /DNS label/);
});

test('labelValue keeps safe values and makes unsafe ones safe and distinct', () => {
  assert.equal(labelValue('alice'), 'alice');
  const a = labelValue('a@b');
  const b = labelValue('a.b@');
  assert.match(a, /^a-b-[0-9a-f]{8}$/);
  assert.notEqual(a, b);
  assert.ok(labelValue('x'.repeat(100)).length <= 63);
  assert.match(labelValue('@@@'), /^[0-9a-f]{8}$/);
});

test("buildPod: a site's plugin annotations and extra tolerations reach the pod", () => {
  const site: SiteConfig = {
    ...hpc,
    pluginAnnotations: {
      'slurm-job.vk.io/image-root': '/leonardo/images',
      'slurm-job.vk.io/singularity-options': '--nv --cleanenv'
    },
    tolerations: [{ key: 'site.example/gpu', value: 'a100', effect: 'NoSchedule' }]
  };
  const { pod } = buildPod(spec(site));
  const ann = pod.metadata!.annotations!;
  assert.equal(ann['slurm-job.vk.io/image-root'], '/leonardo/images');
  assert.equal(ann['slurm-job.vk.io/singularity-options'], '--nv --cleanenv');
  assert.match(ann[ANNOTATIONS.slurmFlags], /--time=/);
  assert.deepEqual(pod.spec!.tolerations, [
    { key: 'virtual-node.interlink/no-schedule', operator: 'Exists' },
    { key: 'site.example/gpu', operator: 'Equal', value: 'a100', effect: 'NoSchedule' }
  ]);
  assert.deepEqual(pod.spec!.nodeSelector, hpc.nodeSelector);
});

test('buildPod: an environment sets the image, runs its setup first and names its Python', () => {
  const { pod } = buildPod(
    spec(hpc, {
      environment: {
        id: 'torch',
        displayName: 'PyTorch 2.3',
        image: 'ghcr.io/example/torch:2.3',
        setup: 'module load cuda/12.1',
        python: '/opt/envs/torch/bin/python'
      },
      account: { name: 'a.smith', uid: 20001, gid: 20001, home: '/home/a.smith' }
    })
  );
  const container = pod.spec!.containers[0];
  assert.equal(container.image, 'ghcr.io/example/torch:2.3');
  assert.deepEqual(container.command!.slice(0, 2), ['/bin/bash', '-c']);
  assert.match(container.command![2], /^set -e\nmodule load cuda\/12\.1\nset \+e\nexec "\$@"$/);
  const env = envOf(pod);
  assert.deepEqual(JSON.parse(env[AGENT_ENV.jupyterCommand]), [
    '/opt/envs/torch/bin/python',
    '-m',
    'jupyter_server'
  ]);
  assert.equal(env[AGENT_ENV.python], '/opt/envs/torch/bin/python');
  assert.equal(pod.metadata!.annotations![ANNOTATIONS.environment], 'torch');
  assert.equal(readPodMetadata(pod)!.environment, 'torch');
  // …and the account it runs as, for interLink's plugins.
  assert.deepEqual(pod.spec!.securityContext, {
    runAsUser: 20001,
    runAsGroup: 20001,
    runAsNonRoot: true
  });
  assert.equal(pod.metadata!.annotations![ANNOTATIONS.account], 'a.smith');
  assert.equal(env.HOME, '/home/a.smith');
});

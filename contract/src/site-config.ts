/**
 * The site file: what an administrator declares about each site and its profiles, as schemas
 * (the proxy server and the bridge read sites through these types; the loader checks files
 * against them). A field's `invalid` option is what a person is told when it is wrong.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { MemoryQuantity, SiteKind } from './index.js';

const ID_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const Text = (invalid = 'must be a string') => Type.String({ invalid });
const Strings = (invalid: string) => Type.Array(Type.String(), { invalid });
const Mapping = <T extends Parameters<typeof Type.Object>[0]>(properties: T) =>
  Type.Object(properties, { invalid: 'must be a mapping' });
/** Walltimes in a site file: seconds (the loader turns `8h`, `4:00:00` into seconds first). */
const Seconds = Type.Number({ minimum: 60, invalid: 'must be a number of seconds ≥ 60' });

/** Which vk-bridge driver places a site's pods. */
export const DRIVERS = ['kubernetes', 'interlink', 'local', 'slurm'] as const;
export const DriverName = Type.Union(
  DRIVERS.map(d => Type.Literal(d)),
  { invalid: `unknown driver $value; known: ${DRIVERS.join(', ')}` }
);
export type DriverName = Static<typeof DriverName>;

export const ProfileConfig = Type.Object({
  id: Type.String({ pattern: ID_PATTERN, invalid: 'must be lowercase letters, digits and -' }),
  displayName: Type.String({ minLength: 1, invalid: 'is required' }),
  description: Type.Optional(Text()),
  resources: Type.Object(
    {
      cpu: Type.Number({ exclusiveMinimum: 0, invalid: 'must be a number > 0' }),
      memory: Type.String({
        pattern: MemoryQuantity.pattern,
        invalid: 'must be a quantity like 512Mi or 16Gi'
      }),
      gpu: Type.Integer({ minimum: 0, invalid: 'must be a whole number ≥ 0' }),
      gpuType: Type.Optional(Text())
    },
    { invalid: 'is required: {cpu, memory, gpu}' }
  ),
  /** seconds */
  maxWalltime: Seconds,
  /** seconds */
  defaultWalltime: Type.Optional(Seconds),
  /** Extra `#SBATCH` flags for this profile, e.g. `--qos=boost_qos_dbg`. */
  slurmFlags: Type.Optional(Strings('must be a list of strings, e.g. ["--qos=normal"]')),
  /** Overrides the site's partition. */
  partition: Type.Optional(Text())
});
export type ProfileConfig = Static<typeof ProfileConfig>;

/**
 * An environment users may run in: a container image (kubernetes and interlink sites), and/or on
 * a host (local, slurm, or inside the image) shell lines run first (`module load python/3.11`,
 * `source /opt/envs/torch/bin/activate`) and the Python that runs Jupyter (with jupyter_server and
 * ipykernel in it). Kernels and batch jobs of a session run in it.
 */
export const EnvironmentConfig = Type.Object({
  id: Type.String({ pattern: ID_PATTERN, invalid: 'must be lowercase letters, digits and -' }),
  displayName: Type.String({ minLength: 1, invalid: 'is required' }),
  description: Type.Optional(Text()),
  image: Type.Optional(Text()),
  setup: Type.Optional(Text('must be shell lines, e.g. "module load python/3.11"')),
  python: Type.Optional(Text('must be the path of a Python with jupyter_server and ipykernel'))
});
export type EnvironmentConfig = Static<typeof EnvironmentConfig>;

export const SiteConfig = Type.Object({
  id: Type.String({
    pattern: ID_PATTERN,
    maxLength: 40,
    invalid: 'must be lowercase letters, digits and -, at most 40 characters'
  }),
  displayName: Type.String({ minLength: 1, invalid: 'is required' }),
  kind: Type.Union(SiteKind.anyOf, {
    invalid: `must be one of ${SiteKind.anyOf.map(k => k.const).join(', ')} (got $value)`
  }),
  description: Type.Optional(Text()),
  driver: DriverName,
  /** seconds; caps every profile */
  maxWalltime: Type.Optional(Seconds),
  /** The interLink virtual node: nodeSelector labels, e.g. {'kubernetes.io/hostname': 'leonardo-vk'}. */
  nodeSelector: Type.Optional(
    Type.Record(Type.String(), Text('values must be strings'), { invalid: 'must be a mapping' })
  ),
  namespace: Type.Optional(Text()),
  /** Container image of the agent (the Jupyter server + tunnel agent) on the remote side. */
  image: Type.Optional(Text()),
  /** Slurm: partition, account, extra flags (become `slurm-job.vk.io/flags`), pre-exec. */
  slurm: Type.Optional(
    Mapping({
      partition: Type.Optional(Text()),
      account: Type.Optional(Text()),
      flags: Type.Optional(Strings('must be a list of strings, e.g. ["--qos=normal"]')),
      preExec: Type.Optional(Text()),
      /** slurm driver: SLURM_CONF for sbatch/squeue/scancel (default: Slurm's own lookup). */
      conf: Type.Optional(Text()),
      /** slurm driver: where job scripts, secrets and output live; must be visible to compute nodes. */
      workDir: Type.Optional(Text())
    })
  ),
  /**
   * Annotations for the site's interLink plugin, passed on as they are: `slurm-job.vk.io/…`
   * (image-root, singularity-options, singularity-mounts, mpi-flags, enroot-…, flavor) or
   * `htcondor-job.vk.io/…`. Flags and pre-exec come from `slurm`, not from here.
   */
  pluginAnnotations: Type.Optional(
    Type.Record(Type.String(), Text(), { invalid: 'must be a mapping of annotation to value' })
  ),
  /** Tolerations the site's virtual node needs beyond interLink's own (its configured taints). */
  tolerations: Type.Optional(
    Type.Array(
      Mapping({
        key: Type.String({
          minLength: 1,
          invalid: 'is required (the taint key of the virtual node)'
        }),
        operator: Type.Optional(
          Type.Union([Type.Literal('Exists'), Type.Literal('Equal')], {
            invalid: 'must be Exists or Equal'
          })
        ),
        value: Type.Optional(Text()),
        effect: Type.Optional(
          Type.Union(
            [
              Type.Literal('NoSchedule'),
              Type.Literal('PreferNoSchedule'),
              Type.Literal('NoExecute')
            ],
            { invalid: 'must be NoSchedule, PreferNoSchedule or NoExecute' }
          )
        )
      }),
      { invalid: 'must be a list' }
    )
  ),
  /**
   * interlink driver: the interLink API's URL (`unix:///path/api.sock`, `https://…`, `http://…`),
   * a file holding the bearer token; for https, a CA file to trust (instead of the system's), a
   * client certificate and key (mTLS), or `insecure` to skip verifying the server.
   */
  interlink: Type.Optional(
    Mapping({
      url: Type.String({
        pattern: '^(https?://|unix:///)',
        invalid:
          'is required for the interlink driver (the interLink API: unix:///path/to.sock or an http(s) URL)'
      }),
      tokenFile: Type.Optional(Text('must be a path')),
      token: Type.Optional(Text()),
      caFile: Type.Optional(Text('must be a path')),
      certFile: Type.Optional(Text('must be a path')),
      keyFile: Type.Optional(Text('must be a path')),
      insecure: Type.Optional(Type.Boolean({ invalid: 'must be true or false' })),
      /**
       * One pod per /status call, for plugins that answer for the first pod of a list only
       * (interLink's HTCondor plugin): interLink answers the others from its cache.
       */
      statusPerPod: Type.Optional(Type.Boolean({ invalid: 'must be true or false' }))
    })
  ),
  /** kubernetes driver: kubeconfig path (default: in-cluster, then ~/.kube/config). */
  kubernetes: Type.Optional(
    Mapping({ kubeconfig: Type.Optional(Text()), context: Type.Optional(Text()) })
  ),
  /** The agent's argv inside this site's jobs (default: `interlink-agent` from the image). */
  agentCommand: Type.Optional(
    Type.Array(Type.String(), {
      minItems: 1,
      invalid: 'must be a non-empty list of strings (the argv of the agent)'
    })
  ),
  /** local driver: optional bubblewrap isolation (off by default) and the default working directory. */
  local: Type.Optional(
    Mapping({
      isolation: Type.Optional(
        Type.Union([Type.Literal('none'), Type.Literal('bubblewrap')], {
          invalid: 'must be none or bubblewrap'
        })
      ),
      workingDir: Type.Optional(Text())
    })
  ),
  /**
   * How pages of a session's remote server and of its web-app ports run in the browser:
   * `sandboxed` (the default: an opaque origin, so a remote page cannot act with this server's
   * origin) or `trusted` (this server's origin: the remote JupyterLab, TensorBoard and Dask
   * dashboards work, and whoever controls the remote side can act as the user here).
   */
  remoteUi: Type.Optional(
    Type.Union([Type.Literal('sandboxed'), Type.Literal('trusted')], {
      invalid: 'must be sandboxed or trusted'
    })
  ),
  /**
   * The Unix account each hub user's jobs run as on this site: a template (`{username}` is the
   * hub user's name), a table (hub user → account; others fall back to the template), or a
   * command the admin names (its argv, `{username}` filled in; it prints the account). Without
   * it, jobs run as the service's own account, which under JupyterHub is refused unless
   * `shared: true` says the admin means it.
   */
  runAs: Type.Optional(
    Mapping({
      template: Type.Optional(
        Type.String({
          minLength: 1,
          invalid: 'must be an account name or a template like {username}'
        })
      ),
      map: Type.Optional(
        Type.Record(
          Type.String(),
          Type.String({ minLength: 1, invalid: 'must be an account name' }),
          {
            invalid: 'must be a mapping of hub user to account'
          }
        )
      ),
      command: Type.Optional(
        Type.Array(Type.String(), {
          minItems: 1,
          invalid: 'must be a non-empty list of strings (the argv; {username} is filled in)'
        })
      ),
      shared: Type.Optional(Type.Boolean({ invalid: 'must be true or false' }))
    })
  ),
  /**
   * Kernel sessions whose kernels have all been idle this long are stopped, after a warning
   * `warnBefore` earlier (default a quarter of the limit, at most 10 minutes) that lets the user
   * keep them running. Batch jobs are never stopped for being idle. Seconds (or `1h`, `30m`).
   */
  idle: Type.Optional(
    Mapping({
      limit: Type.Number({ minimum: 10, invalid: 'must be a duration of at least 10 seconds' }),
      warnBefore: Type.Optional(
        Type.Number({ minimum: 1, invalid: 'must be a duration of at least 1 second' })
      )
    })
  ),
  /** The environments users may pick at launch; the first is the default. */
  environments: Type.Optional(
    Type.Array(EnvironmentConfig, { minItems: 1, invalid: 'must be a non-empty list' })
  ),
  /**
   * How users see their allocation: a command of the admin's (argv, `{username}` filled in) whose
   * first line of output is shown beside the month's GPU-hours and core-hours, e.g. `saldo -b`.
   */
  budget: Type.Optional(
    Mapping({
      command: Type.Array(Type.String(), {
        minItems: 1,
        invalid: 'must be a non-empty list of strings (the argv; {username} is filled in)'
      })
    })
  ),
  /** Per-user limit of live sessions on this site. */
  maxSessionsPerUser: Type.Optional(Type.Number()),
  profiles: Type.Array(ProfileConfig, {
    minItems: 1,
    invalid: 'at least one profile is required'
  })
});
export type SiteConfig = Static<typeof SiteConfig>;

/** One problem of a value against a schema: the path of the field (keys and indexes) and what is wrong. */
export interface SchemaProblem {
  path: (string | number)[];
  message: string;
}

/**
 * Every field of `value` that `schema` refuses, once per field, each with the schema's `invalid`
 * text (with `$value` as what was given) or else what TypeBox says.
 */
export function schemaProblems(schema: TSchema, value: unknown): SchemaProblem[] {
  const seen = new Set<string>();
  const problems: SchemaProblem[] = [];
  for (const error of Value.Errors(schema, value)) {
    if (seen.has(error.path)) continue;
    seen.add(error.path);
    const path = error.path
      .split('/')
      .slice(1)
      .map(k => k.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map(k => (/^\d+$/.test(k) ? Number(k) : k));
    const invalid = (error.schema as { invalid?: string }).invalid;
    const message = invalid
      ? invalid.replace('$value', JSON.stringify(error.value))
      : error.value === undefined
        ? 'is required'
        : error.message;
    problems.push({ path, message });
  }
  return problems;
}

/**
 * A pod, made runnable without a container runtime: its Secret/ConfigMap volumes become files in
 * a per-session directory, and paths under a mountPath (in env, command and workingDir) point to
 * those files instead, since a plain process cannot mount at an absolute path. Shared by the local
 * and Slurm executors, as interLink's Slurm plugin also turns volumes into files.
 */
import { hostname } from 'node:os';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { V1Container, V1KeyToPath, V1Volume } from '@kubernetes/client-node';
import { DriverError } from './errors.js';
import type { PodBundle } from './types.js';

export interface Mount {
  mountPath: string;
  local: string;
}

/** `$(VAR)` in command, args and env values, as Kubernetes expands it; `$$(` stays literal. */
export function expand(text: string, env: Record<string, string>): string {
  return text.replace(/\$\$\(|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name?: string) =>
    name === undefined ? '$(' : (env[name] ?? m)
  );
}

/** A path inside a mountPath becomes the same path inside the materialised directory. */
export function rewrite(value: string, mounts: Mount[]): string {
  for (const m of mounts) {
    if (value === m.mountPath) return m.local;
    if (value.startsWith(m.mountPath + '/')) return m.local + value.slice(m.mountPath.length);
  }
  return value;
}

function secretData(bundle: PodBundle, volume: string, name: string, optional?: boolean) {
  const sec = bundle.secrets.find(x => x.metadata?.name === name);
  if (!sec && !optional) {
    throw new DriverError('Invalid', `volume ${volume}: secret ${name} is not part of the pod`);
  }
  const out: Record<string, Buffer> = {};
  for (const [k, b64] of Object.entries(sec?.data ?? {})) out[k] = Buffer.from(b64, 'base64');
  for (const [k, text] of Object.entries(sec?.stringData ?? {})) out[k] = Buffer.from(text);
  return out;
}

function configMapData(bundle: PodBundle, volume: string, name: string, optional?: boolean) {
  const cm = bundle.configMaps.find(x => x.metadata?.name === name);
  if (!cm && !optional) {
    throw new DriverError('Invalid', `volume ${volume}: config map ${name} is not part of the pod`);
  }
  const out: Record<string, Buffer> = {};
  for (const [k, text] of Object.entries(cm?.data ?? {})) out[k] = Buffer.from(text);
  for (const [k, b64] of Object.entries(cm?.binaryData ?? {})) out[k] = Buffer.from(b64, 'base64');
  return out;
}

async function fillVolume(v: V1Volume, dir: string, bundle: PodBundle): Promise<void> {
  const write = async (
    data: Record<string, Buffer>,
    items: V1KeyToPath[] | undefined,
    mode: number
  ) => {
    const chosen: V1KeyToPath[] = items ?? Object.keys(data).map(key => ({ key, path: key }));
    for (const item of chosen) {
      const value = data[item.key];
      if (value === undefined) continue;
      const file = join(dir, item.path);
      if (!file.startsWith(dir + '/')) {
        throw new DriverError('Invalid', `volume ${v.name}: path ${item.path} escapes the volume`);
      }
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      await writeFile(file, value, { mode: item.mode ?? mode });
      await chmod(file, item.mode ?? mode);
    }
  };
  if (v.secret) {
    const data = secretData(bundle, v.name, v.secret.secretName ?? '', v.secret.optional);
    // secrets are private to the session's user whatever the pod asks
    await write(data, v.secret.items, (v.secret.defaultMode ?? 0o600) & 0o700);
  } else if (v.configMap) {
    const data = configMapData(bundle, v.name, v.configMap.name ?? '', v.configMap.optional);
    await write(data, v.configMap.items, v.configMap.defaultMode ?? 0o644);
  } else if (v.projected) {
    for (const src of v.projected.sources ?? []) {
      if (src.secret) {
        const data = secretData(bundle, v.name, src.secret.name ?? '', src.secret.optional);
        await write(data, src.secret.items, (v.projected.defaultMode ?? 0o600) & 0o700);
      }
      if (src.configMap) {
        const data = configMapData(
          bundle,
          v.name,
          src.configMap.name ?? '',
          src.configMap.optional
        );
        await write(data, src.configMap.items, v.projected.defaultMode ?? 0o644);
      }
    }
  } else if (!v.emptyDir) {
    throw new DriverError(
      'Invalid',
      `volume ${v.name}: only secret, configMap, projected, emptyDir and hostPath volumes run without a container runtime`
    );
  }
}

/** Writes the pod's volumes under `root`; returns volume name → local directory. */
export async function materialiseVolumes(
  bundle: PodBundle,
  root: string
): Promise<Map<string, string>> {
  const volumes = new Map<string, string>();
  for (const v of bundle.pod.spec?.volumes ?? []) {
    if (v.hostPath) {
      volumes.set(v.name, v.hostPath.path);
      continue;
    }
    const dir = join(root, v.name);
    volumes.set(v.name, dir);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await fillVolume(v, dir, bundle);
  }
  return volumes;
}

/** The container's mounts, longest mountPath first so nested mounts win. */
export function mountsOf(volumes: Map<string, string>, c: V1Container): Mount[] {
  return (c.volumeMounts ?? [])
    .map(m => {
      const base = volumes.get(m.name);
      if (!base)
        throw new DriverError('Invalid', `container ${c.name} mounts unknown volume ${m.name}`);
      return {
        mountPath: m.mountPath.replace(/\/+$/, ''),
        local: m.subPath ? join(base, m.subPath) : base
      };
    })
    .sort((a, b) => b.mountPath.length - a.mountPath.length);
}

/** The container's environment as Kubernetes would build it (envFrom, env, valueFrom), on top of `base`. */
export function containerEnv(
  bundle: PodBundle,
  c: V1Container,
  mounts: Mount[],
  base: Record<string, string> = {}
): Record<string, string> {
  const env: Record<string, string> = { ...base };
  const secretValue = (name: string, key: string) => {
    const sec = bundle.secrets.find(x => x.metadata?.name === name);
    const b64 = sec?.data?.[key];
    return b64 !== undefined ? Buffer.from(b64, 'base64').toString('utf8') : sec?.stringData?.[key];
  };
  const cmValue = (name: string, key: string) =>
    bundle.configMaps.find(x => x.metadata?.name === name)?.data?.[key];
  for (const from of c.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.secretRef) {
      const sec = bundle.secrets.find(x => x.metadata?.name === from.secretRef!.name);
      for (const k of Object.keys({ ...sec?.data, ...sec?.stringData })) {
        env[prefix + k] = secretValue(from.secretRef.name!, k) ?? '';
      }
    }
    if (from.configMapRef) {
      const cm = bundle.configMaps.find(x => x.metadata?.name === from.configMapRef!.name);
      for (const [k, v] of Object.entries(cm?.data ?? {})) env[prefix + k] = v;
    }
  }
  const md = bundle.pod.metadata ?? {};
  for (const e of c.env ?? []) {
    let value = e.value !== undefined ? expand(e.value, env) : undefined;
    const ref = e.valueFrom;
    if (ref?.secretKeyRef) value = secretValue(ref.secretKeyRef.name ?? '', ref.secretKeyRef.key);
    else if (ref?.configMapKeyRef)
      value = cmValue(ref.configMapKeyRef.name ?? '', ref.configMapKeyRef.key);
    else if (ref?.fieldRef) {
      const fields: Record<string, string | undefined> = {
        'metadata.name': md.name,
        'metadata.namespace': md.namespace ?? 'default',
        'metadata.uid': md.uid,
        'spec.nodeName': hostname(),
        'status.podIP': '127.0.0.1',
        'status.hostIP': '127.0.0.1'
      };
      value = fields[ref.fieldRef.fieldPath];
    }
    env[e.name] = rewrite(value ?? '', mounts);
  }
  return env;
}

/** command + args with `$(VAR)` expanded and mount paths rewritten. */
export function containerArgv(
  c: V1Container,
  env: Record<string, string>,
  mounts: Mount[]
): string[] {
  return [...(c.command ?? []), ...(c.args ?? [])].map(a => rewrite(expand(a, env), mounts));
}

/** Helpers shared by the driver tests: launches, and waiting for a session's status. */
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AGENT_ENV,
  agentEnvironment,
  DEFAULT_BASE_PATH,
  sessionPath
} from '@jupyterlab-interlink/contract';
import { buildPod } from '../pod.js';
import type { BackendStatus, Driver, LaunchSpec, PodBundle, SiteConfig } from '../types.js';

let counter = 0;
export function newSessionId(): string {
  counter += 1;
  return `t${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}${counter}`;
}

export function testSite(overrides: Partial<SiteConfig> = {}): SiteConfig {
  return {
    id: 'test',
    displayName: 'Test',
    kind: 'cloud',
    driver: 'local',
    profiles: [
      {
        id: 'small',
        displayName: 'Small',
        resources: { cpu: 1, memory: '256Mi', gpu: 0 },
        maxWalltime: 3600
      }
    ],
    ...overrides
  };
}

/** A launch whose agent is `command` (default: a Python one-liner). */
export function launch(
  site: SiteConfig,
  command: string[],
  extra: Partial<LaunchSpec> = {}
): { spec: LaunchSpec; bundle: PodBundle; secret: string } {
  const secret = randomBytes(16).toString('hex');
  const sessionId = extra.sessionId ?? newSessionId();
  const base = {
    sessionId,
    site,
    profile: site.profiles[0],
    user: { name: 'alice', groups: ['users'] },
    type: 'kernel' as const,
    walltime: 600,
    createdAt: new Date().toISOString(),
    ...extra
  };
  const spec: LaunchSpec = {
    ...base,
    agent: extra.agent ?? {
      command,
      env: agentEnvironment({
        sessionId,
        type: base.type,
        tunnelUrl: 'ws://127.0.0.1:1/interlink/tunnel',
        baseUrl: sessionPath(DEFAULT_BASE_PATH, sessionId),
        site: base.site.id,
        profile: base.profile.id,
        walltime: base.walltime,
        user: base.user.name,
        groups: base.user.groups ?? [],
        path: base.path,
        command: base.command
      }),
      secret,
      secretHash: createHash('sha256').update(secret).digest('hex'),
      secretFileEnv: AGENT_ENV.secretFile
    }
  };
  return { spec, bundle: buildPod(spec), secret };
}

/** Resolves with the first status of `sessionId` that satisfies `ok`, or rejects after `ms`. */
export function waitForStatus(
  driver: Driver,
  sessionId: string,
  ok: (s: BackendStatus) => boolean,
  ms = 20000
): Promise<BackendStatus> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      driver.off('update', on);
      reject(new Error(`session ${sessionId}: no matching status within ${ms} ms`));
    }, ms);
    function on(id: string, status: BackendStatus) {
      if (id !== sessionId || !ok(status)) return;
      clearTimeout(timer);
      driver.off('update', on);
      resolve(status);
    }
    driver.on('update', on);
  });
}

/** Every status a driver reports for `sessionId`, in order. */
export function recordStatuses(driver: Driver, sessionId: string): BackendStatus[] {
  const seen: BackendStatus[] = [];
  driver.on('update', (id, s) => {
    if (id === sessionId) seen.push(s);
  });
  return seen;
}

export async function readAll(stream: Readable, ms = 20000): Promise<string> {
  const chunks: Buffer[] = [];
  const timer = setTimeout(
    () => stream.destroy(new Error(`log stream still open after ${ms} ms`)),
    ms
  );
  try {
    for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads a stream until `text` appears; resolves with what was read, leaves the stream open. */
export function readUntil(stream: Readable, text: string, ms = 20000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      stream.off('data', on);
      reject(new Error(`"${text}" not seen within ${ms} ms; got: ${seen.slice(-500)}`));
    }, ms);
    function on(chunk: Buffer) {
      seen += chunk.toString('utf8');
      if (seen.includes(text)) {
        clearTimeout(timer);
        stream.off('data', on);
        stream.pause();
        resolve(seen);
      }
    }
    stream.on('data', on);
  });
}

export const PYTHON = '/usr/bin/python3';

/**
 * What a restarted proxy server may believe of a pod. Sessions are rebuilt from pod annotations
 * (owner, groups, the tunnel secret's hash, ports…), and anyone who can write pods in the
 * namespace could plant such a pod and so own a session, or take over the owner's name for a job
 * they control. Each pod we create carries an HMAC of what re-adoption reads back, under a key
 * only this server holds (a 0600 file in its state folder); a pod without a valid one is not
 * adopted.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PodMetadata } from '@jupyterlab-interlink/vk-bridge';

const KEY_FILE = 'adoption.key';

/** The server's key from its state folder, made on first start. */
export async function loadAdoptionKey(stateDir: string): Promise<Buffer> {
  const path = join(stateDir, KEY_FILE);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  try {
    const file = await open(path, 'wx', 0o600);
    const key = randomBytes(32);
    await file.writeFile(key.toString('hex'));
    await file.close();
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const key = Buffer.from((await readFile(path, 'utf8')).trim(), 'hex');
  if (key.length < 32)
    throw new Error(`${path}: not a key this server wrote (remove it to start afresh)`);
  return key;
}

/**
 * The fields re-adoption trusts, in a fixed order: a field added later does not change what
 * older pods were signed over.
 */
function signedText(meta: PodMetadata): string {
  return JSON.stringify([
    meta.sessionId,
    meta.user,
    meta.groups,
    meta.site,
    meta.profile,
    meta.type,
    meta.createdAt ?? null,
    meta.walltime ?? null,
    meta.secretHash ?? null,
    meta.name ?? null,
    meta.path ?? null,
    meta.ports ?? null,
    meta.environment ?? null
  ]);
}

export function signPod(key: Buffer, meta: PodMetadata): string {
  return createHmac('sha256', key).update(signedText(meta)).digest('hex');
}

/** Whether `signature` is ours for exactly this metadata. */
export function verifyPod(key: Buffer, meta: PodMetadata, signature: string | undefined): boolean {
  if (!signature || !/^[0-9a-f]{64}$/.test(signature)) return false;
  return timingSafeEqual(Buffer.from(signPod(key, meta), 'hex'), Buffer.from(signature, 'hex'));
}

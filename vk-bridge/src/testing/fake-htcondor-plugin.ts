/**
 * interLink's HTCondor plugin (interlink-hq/interlink-htcondor-plugin, handles.py), for tests:
 * HTCondor has no package here, so the condor jobs are a table the test moves through HTCondor's
 * JobStatus values. Everything the plugin says over HTTP is as handles.py says it: Flask's routes
 * and methods, 201 on /create, one pod per /status call (the first of the list), 404 when the job
 * file or the job is missing, JobStatus → container state and reason, /getLogs "NOT IMPLEMENTED",
 * and the empty /status list as interLink's ping (503 while the proxy file is missing).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';

/** HTCondor's JobStatus: 1 idle, 2 running, 3 removed, 4 completed, 5 held. */
export interface CondorJob {
  JobStatus: 1 | 2 | 3 | 4 | 5;
  ExitCode?: number;
  HoldReason?: string;
  JobStartDate?: number;
  CompletionDate?: number;
}

interface JobFile {
  jid: string;
  pod: PodLike;
}

interface PodLike {
  metadata?: { name?: string; uid?: string; namespace?: string };
  spec?: { containers?: { name: string; image?: string }[] };
}

/** Flask's answers for a route it has, with a method it was not given. */
const METHOD_NOT_ALLOWED =
  '<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n';
const NOT_FOUND =
  '<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n';
/** json.loads failing */
const INVALID_JSON = 'Invalid JSON format';
const ROUTES: Record<string, string> = {
  '/create': 'POST',
  '/delete': 'POST',
  '/status': 'GET',
  '/getLogs': 'GET'
};

export class FakeHtcondorPlugin {
  /** condor_q / condor_history, by cluster id */
  readonly jobs = new Map<string, CondorJob>();
  /** the plugin's .jid files, by `<name>-<uid>` */
  private readonly jobFiles = new Map<string, JobFile>();
  /** handles.py's ping answers 200 only while the X.509 proxy file exists */
  proxyFileExists = true;
  readonly calls: { path: string; method: string; pods?: number }[] = [];
  private nextJid = 101;
  private server?: Server;

  private constructor(readonly socketPath: string) {}

  /** Listens on a Unix socket, as interLink's installer wires its plugin. */
  static async start(socketPath: string): Promise<FakeHtcondorPlugin> {
    const p = new FakeHtcondorPlugin(socketPath);
    await p.listen();
    return p;
  }

  get url(): string {
    return `unix://${this.socketPath}`;
  }

  /** Stops answering (an outage) without forgetting its jobs; listen() brings it back. */
  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>(resolve => s.close(() => resolve()));
  }

  async listen(): Promise<void> {
    await rm(this.socketPath, { force: true });
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
    this.server = server;
  }

  /** The condor job of a pod, as the test moves it. */
  jobOf(podName: string): CondorJob | undefined {
    for (const f of this.jobFiles.values())
      if (f.pod.metadata?.name === podName) return this.jobs.get(f.jid);
    return undefined;
  }

  jidOf(podName: string): string | undefined {
    for (const f of this.jobFiles.values()) if (f.pod.metadata?.name === podName) return f.jid;
    return undefined;
  }

  setJob(podName: string, job: Partial<CondorJob>): void {
    const jid = this.jidOf(podName);
    if (!jid) throw new Error(`no condor job for pod ${podName}`);
    const now = Math.floor(Date.now() / 1000);
    const next = { ...this.jobs.get(jid)!, ...job };
    if (next.JobStatus === 2) next.JobStartDate ??= now;
    if (next.JobStatus === 3 || next.JobStatus === 4) next.CompletionDate ??= now;
    this.jobs.set(jid, next);
  }

  get address(): AddressInfo | string | null {
    return this.server?.address() ?? null;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const route = ROUTES[path];
    if (!route) return this.html(res, 404, NOT_FOUND);
    if (req.method !== route && !(route === 'GET' && req.method === 'HEAD'))
      return this.html(res, 405, METHOD_NOT_ALLOWED);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    this.calls.push({
      path,
      method: req.method!,
      pods: Array.isArray(body) ? body.length : undefined
    });
    switch (path) {
      case '/create':
        return this.create(res, body);
      case '/delete':
        return this.remove(res, body);
      case '/status':
        return this.status(res, body);
      default:
        return this.logs(res, body);
    }
  }

  private create(res: ServerResponse, body: unknown): void {
    if (body === undefined) return this.error(res, 400, INVALID_JSON);
    if (!isDict(body)) return this.error(res, 400, 'Request must be a CreateStruct object');
    if (!('pod' in body)) return this.error(res, 400, "Missing 'pod' field in request");
    const pod = body.pod as PodLike;
    const invalid = validatePod(pod);
    if (invalid) return this.error(res, 400, `Invalid Pod: ${invalid}`);
    const uid = pod.metadata!.uid;
    if (uid === undefined) return this.error(res, 500, "Job submission failed: 'uid'");
    const jid = String(this.nextJid++);
    this.jobs.set(jid, { JobStatus: 1 });
    this.jobFiles.set(`${pod.metadata!.name}-${uid}`, { jid, pod });
    this.json(res, 201, {
      PodUID: uid,
      PodJID: jid,
      metadata: {
        name: pod.metadata!.name,
        namespace: pod.metadata!.namespace ?? 'default',
        uid
      }
    });
  }

  private remove(res: ServerResponse, body: unknown): void {
    if (body === undefined) return this.error(res, 400, INVALID_JSON);
    const invalid = validatePod(body as PodLike);
    if (invalid) return this.error(res, 400, `Invalid request: ${invalid}`);
    const pod = body as PodLike;
    const key = `${pod.metadata!.name}-${pod.metadata!.uid}`;
    const file = this.jobFiles.get(key);
    if (!file) return this.error(res, 404, 'Pod not found or already deleted');
    // condor_rm: "All jobs in cluster N have been marked for removal"; the job moves to history
    const job = this.jobs.get(file.jid);
    if (job && job.JobStatus !== 4 && job.JobStatus !== 3)
      this.jobs.set(file.jid, {
        ...job,
        JobStatus: 3,
        CompletionDate: Math.floor(Date.now() / 1000)
      });
    this.jobFiles.delete(key);
    this.json(res, 200, {
      message: 'Pod successfully deleted',
      podUID: pod.metadata!.uid ?? '',
      podName: pod.metadata!.name ?? ''
    });
  }

  private status(res: ServerResponse, body: unknown): void {
    if (body === undefined) return this.error(res, 400, INVALID_JSON);
    if (Array.isArray(body) && body.length === 0) {
      if (this.proxyFileExists)
        return this.json(res, 200, { message: 'HTCondor sidecar is alive', status: 'healthy' });
      return this.error(res, 503, 'HTCondor sidecar not ready - proxy file not available');
    }
    if (!Array.isArray(body)) return this.error(res, 400, 'Status request must be an array');
    // handles.py answers for the first pod of the list only
    const pod = body[0] as PodLike;
    const invalid = validatePod(pod);
    if (invalid) return this.error(res, 400, `Invalid request: ${invalid}`);
    const file = this.jobFiles.get(`${pod.metadata!.name}-${pod.metadata!.uid}`);
    if (!file) return this.error(res, 404, 'Pod not found');
    const job = this.jobs.get(file.jid);
    if (!job) return this.error(res, 404, `Job ${file.jid} not found in HTCondor queue or history`);
    const iso = (s?: number) =>
      (s ? new Date(s * 1000) : new Date()).toISOString().replace(/Z$/, '') + 'Z';
    let state: object;
    let ready = false;
    switch (job.JobStatus) {
      case 1:
        state = { waiting: { reason: 'ContainerCreating' } };
        break;
      case 2:
        state = { running: { startedAt: iso(job.JobStartDate) } };
        ready = true;
        break;
      case 4:
        state = {
          terminated: {
            startedAt: iso(job.JobStartDate),
            finishedAt: iso(job.CompletionDate),
            exitCode: job.ExitCode ?? 0,
            reason: 'Completed'
          }
        };
        break;
      case 3:
        // handles.py gives no exitCode for a removed job
        state = {
          terminated: {
            startedAt: iso(job.JobStartDate),
            finishedAt: iso(job.CompletionDate),
            reason: 'Cancelled'
          }
        };
        break;
      case 5:
        state = {
          waiting: { reason: 'JobHeld', message: job.HoldReason ?? 'Job held by HTCondor' }
        };
        break;
      default:
        state = { waiting: { reason: 'Unknown' } };
    }
    const containers = (pod.spec?.containers ?? []).map(c => ({
      name: c.name,
      state,
      lastState: {},
      ready,
      restartCount: 0,
      image: c.image ?? 'unknown',
      imageID: c.image ?? 'unknown'
    }));
    this.json(res, 200, [
      {
        name: pod.metadata!.name,
        UID: pod.metadata!.uid,
        namespace: pod.metadata!.namespace ?? 'default',
        JID: file.jid,
        containers
      }
    ]);
  }

  private logs(res: ServerResponse, body: unknown): void {
    if (!isDict(body)) {
      res.writeHead(400, { 'Content-Type': 'text/html; charset=utf-8' });
      return void res.end('Invalid request data for getting logs');
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(JSON.stringify('NOT IMPLEMENTED'));
  }

  private json(res: ServerResponse, code: number, value: unknown): void {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(value) + '\n');
  }

  private error(res: ServerResponse, code: number, message: string): void {
    this.json(res, code, { error: message, timestamp: new Date().toISOString() });
  }

  private html(res: ServerResponse, code: number, page: string): void {
    res.writeHead(code, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page);
  }
}

function isDict(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** validate_pod_request */
function validatePod(pod: PodLike | undefined): string | undefined {
  if (!pod) return 'Empty request data';
  if (!isDict(pod)) return 'Request data must be a dictionary';
  if (!('metadata' in pod)) return 'Missing metadata in request';
  if (!isDict(pod.metadata) || !('name' in pod.metadata)) return 'Missing pod name in metadata';
  return undefined;
}

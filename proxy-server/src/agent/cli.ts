#!/usr/bin/env node
// interlink-agent: runs inside the remote job. Starts a Jupyter server (on a Unix socket for
// jupyter_server 2.x, on loopback TCP for 1.x), dials the proxy server's tunnel endpoint and
// serves the remote Jupyter server back through it. Its stdout is the job log the user reads, so
// it says what it is doing and never prints a secret or token.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  AGENT_ENV,
  DEFAULT_BASE_PATH,
  readArgv,
  readPorts,
  sessionPath
} from '@jupyterlab-interlink/contract';
import { jobFromEnvironment, runJob } from './job.js';
import { startJupyter, type JupyterServer } from './jupyter.js';
import { TunnelAgent } from './tunnel-agent.js';
import { tunnelUrlProblem } from './tunnel-url.js';

const DEFAULT_COMMAND = ['/usr/bin/python3', '-m', 'jupyter_server'];

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} interlink-agent: ${line}\n`);
}

class ConfigError extends Error {}

interface Config {
  sessionId: string;
  tunnelUrl: string;
  secret: string;
  baseUrl: string;
  command: string[];
  notebookDir: string;
  readyTimeoutMs: number;
  ports: number[];
}

function readConfig(env: NodeJS.ProcessEnv): Config {
  const need = (name: string): string => {
    const value = env[name];
    if (!value) throw new ConfigError(`${name} is not set`);
    return value;
  };
  const sessionId = need(AGENT_ENV.sessionId);
  const tunnelUrl = need(AGENT_ENV.tunnelUrl);
  let parsed: URL;
  try {
    parsed = new URL(tunnelUrl);
  } catch {
    throw new ConfigError(`${AGENT_ENV.tunnelUrl} is not a URL`);
  }
  const problem = tunnelUrlProblem(parsed);
  if (problem) throw new ConfigError(`${AGENT_ENV.tunnelUrl}: ${problem}`);
  let secret: string | undefined;
  const secretFile = env[AGENT_ENV.secretFile];
  if (secretFile) {
    try {
      secret = readFileSync(secretFile, 'utf8').trim();
    } catch (err) {
      throw new ConfigError(
        `cannot read ${AGENT_ENV.secretFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`
      );
    }
  } else {
    secret = env[AGENT_ENV.secret]?.trim();
  }
  if (!secret) throw new ConfigError(`no secret: set ${AGENT_ENV.secretFile}`);
  let baseUrl = env[AGENT_ENV.baseUrl] || sessionPath(DEFAULT_BASE_PATH, sessionId);
  if (!baseUrl.startsWith('/')) baseUrl = `/${baseUrl}`;
  if (!baseUrl.endsWith('/')) baseUrl = `${baseUrl}/`;
  let command = DEFAULT_COMMAND;
  try {
    command = readArgv(env, AGENT_ENV.jupyterCommand) ?? DEFAULT_COMMAND;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  let ports: number[];
  try {
    ports = readPorts(env);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const readyTimeoutMs = Number(env[AGENT_ENV.jupyterTimeoutSeconds] ?? 300) * 1000;
  return {
    sessionId,
    tunnelUrl,
    secret,
    baseUrl,
    command,
    notebookDir: env[AGENT_ENV.notebookDir] || process.cwd(),
    ports,
    readyTimeoutMs: Number.isFinite(readyTimeoutMs) && readyTimeoutMs > 0 ? readyTimeoutMs : 300_000
  };
}

/** The environment the Jupyter server (and so every kernel) inherits: without the agent's secret. */
function serverEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  delete out[AGENT_ENV.secret];
  delete out[AGENT_ENV.secretFile];
  return out;
}

async function main(): Promise<number> {
  // A batch job needs no Jupyter server and no tunnel: it runs to completion and reports its code.
  if (process.env[AGENT_ENV.sessionType] === 'job') return runJob(jobFromEnvironment());
  let config: Config;
  try {
    config = readConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      log(`cannot start: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const safeUrl = new URL(config.tunnelUrl);
  safeUrl.username = '';
  safeUrl.password = '';
  safeUrl.search = '';

  // Filled in as they start; shutdown stops whatever exists by then.
  const running: { jupyter?: JupyterServer; agent?: TunnelAgent } = {};
  let finishing: Promise<number> | undefined;
  const finish = (code: number, why: string): Promise<number> => {
    finishing ??= (async () => {
      log(why);
      await running.agent?.stop();
      if (running.jupyter) {
        log('stopping the Jupyter server');
        await running.jupyter.stop();
      }
      return code;
    })();
    return finishing;
  };
  const stopped = new Promise<number>(resolve => {
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      process.on(signal, () => void finish(0, `received ${signal}, shutting down`).then(resolve));
    }
  });

  log(`starting Jupyter server (session ${config.sessionId})`);
  let server: JupyterServer;
  // The free port is chosen before the server binds it: another process may take it meanwhile,
  // and the server then exits at once. A fresh port is worth a second and a third try.
  for (let attempt = 1; ; attempt++) {
    server = await startJupyter({
      command: config.command,
      baseUrl: config.baseUrl,
      notebookDir: config.notebookDir,
      env: serverEnv(process.env),
      avoidPorts: config.ports,
      kernelPython: process.env[AGENT_ENV.python],
      onOutput: line => process.stdout.write(`jupyter: ${line}\n`)
    });
    running.jupyter = server;
    if (finishing) {
      // A signal arrived while the server was being spawned.
      await server.stop();
      return finishing;
    }
    try {
      await Promise.race([server.waitReady(config.readyTimeoutMs), stopped]);
      break;
    } catch (err) {
      const exitedEarly = server.child.exitCode !== null || server.child.signalCode !== null;
      if (exitedEarly && attempt < 3 && !finishing) {
        log(`the Jupyter server exited before it was ready; trying again on another port`);
        continue;
      }
      return finish(1, `the Jupyter server did not start: ${(err as Error).message}`);
    }
  }
  const jupyter = server;
  const died = jupyter.exited.then(code =>
    finish(code === 0 ? 1 : code, `the Jupyter server exited (code ${code}); stopping`)
  );
  if (finishing) return finishing;
  const where =
    'socketPath' in server.endpoint
      ? 'a Unix socket'
      : `${server.endpoint.host}:${server.endpoint.port}`;
  log(`Jupyter server ready on ${where} (jupyter_server ${server.major || 'version unknown'})`);

  const agent = new TunnelAgent({
    url: config.tunnelUrl,
    sessionId: config.sessionId,
    secret: config.secret,
    target: { ...server.endpoint, basePath: config.baseUrl, token: server.token },
    ports: config.ports,
    rootDir: path.resolve(config.notebookDir),
    log,
    initialDelayMs: Number(process.env[AGENT_ENV.reconnectInitialMs]) || undefined,
    maxDelayMs: Number(process.env[AGENT_ENV.reconnectMaxMs]) || undefined,
    transport: process.env[AGENT_ENV.tunnelTransport] === 'websocket' ? 'websocket' : 'auto'
  });
  const ended = new Promise<number>(resolve => {
    agent.once('ended', reason => {
      const code = reason === 'refused' ? 3 : 0;
      void finish(code, 'the session is over; shutting down').then(resolve);
    });
  });
  running.agent = agent;
  log(`connecting tunnel to ${safeUrl.toString()}`);
  agent.start();
  return Promise.race([stopped, died, ended]);
}

main().then(
  code => process.exit(code),
  (err: unknown) => {
    log(`failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
);

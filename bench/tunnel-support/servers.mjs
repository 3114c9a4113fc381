// The real servers the benchmarks measure against: a NODELAY jupyter_server (started the way the
// agent starts it) and an OpenSSH port forward on loopback.
import { setTimeout } from 'node:timers';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import { freePort, startJupyter } from '../../proxy-server/dist/agent/jupyter.js';

/** Debian's jupyter_server 1.23 (loopback TCP) unless `python` names another interpreter. */
export async function jupyter(
  dir,
  baseUrl,
  { nodelay = true, python = '/usr/bin/python3', tcp } = {}
) {
  const env = {
    ...process.env,
    JUPYTER_CONFIG_DIR: path.join(dir, 'jupyter-config'),
    JUPYTER_DATA_DIR: path.join(dir, 'jupyter-data'),
    JUPYTER_RUNTIME_DIR: path.join(dir, 'jupyter-runtime'),
    IPYTHONDIR: path.join(dir, 'ipython')
  };
  const server = await startJupyter({
    command: [python, '-m', 'jupyter_server'],
    baseUrl,
    notebookDir: dir,
    env,
    nodelay,
    tcp
  });
  await server.waitReady(120_000);
  return server;
}

function waitPort(port, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        if (Date.now() > deadline) reject(new Error(`port ${port} did not open`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

/** sshd on 127.0.0.1 plus `ssh -N -L` to targetPort; returns the local forwarded port. */
export async function sshForward(dir, targetPort) {
  const d = path.join(dir, 'ssh');
  mkdirSync(d, { recursive: true });
  mkdirSync('/run/sshd', { recursive: true });
  for (const key of ['host', 'user']) {
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(d, key)], {
      stdio: 'ignore'
    });
  }
  spawnSync('cp', [path.join(d, 'user.pub'), path.join(d, 'authorized_keys')]);
  const sshdPort = await freePort();
  writeFileSync(
    path.join(d, 'sshd_config'),
    [
      `Port ${sshdPort}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${path.join(d, 'host')}`,
      `AuthorizedKeysFile ${path.join(d, 'authorized_keys')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'StrictModes no',
      'UsePAM no',
      'AllowTcpForwarding yes',
      `PidFile ${path.join(d, 'sshd.pid')}`
    ].join('\n') + '\n'
  );
  const sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(d, 'sshd_config')], {
    stdio: 'ignore'
  });
  await waitPort(sshdPort);
  const localPort = await freePort();
  const ssh = spawn(
    'ssh',
    [
      '-N',
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'ExitOnForwardFailure=yes',
      '-o',
      'LogLevel=ERROR',
      '-i',
      path.join(d, 'user'),
      '-p',
      String(sshdPort),
      '-L',
      `127.0.0.1:${localPort}:127.0.0.1:${targetPort}`,
      `${userInfo().username}@127.0.0.1`
    ],
    { stdio: 'ignore' }
  );
  await waitPort(localPort);
  const version = spawnSync('ssh', ['-V'], { encoding: 'utf8' }).stderr.trim();
  return {
    port: localPort,
    version,
    stop() {
      ssh.kill();
      sshd.kill();
    }
  };
}

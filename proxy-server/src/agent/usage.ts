/**
 * What the job's node is using, for its owner: CPU (all cores, from /proc/stat between two
 * samples), memory (/proc/meminfo: total less available) and, where `nvidia-smi` is on PATH,
 * each GPU's utilisation and memory. Sampled when the proxy asks (`USAGE_PATH`), so an agent
 * nobody watches does nothing.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { GpuUsage, NodeUsage } from '@jupyterlab-interlink/contract';

interface CpuTimes {
  busy: number;
  total: number;
  cores: number;
}

async function cpuTimes(): Promise<CpuTimes> {
  const stat = await readFile('/proc/stat', 'utf8');
  const [, ...fields] = stat.split('\n')[0].trim().split(/\s+/);
  const [user, nice, system, idle, iowait = 0, irq = 0, softirq = 0, steal = 0] =
    fields.map(Number);
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return {
    busy: total - idle - iowait,
    total,
    cores: stat.split('\n').filter(l => /^cpu\d+ /.test(l)).length
  };
}

async function memory(): Promise<NodeUsage['memory']> {
  const info = await readFile('/proc/meminfo', 'utf8');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  const totalBytes = kib('MemTotal') * 1024;
  return { totalBytes, usedBytes: totalBytes - kib('MemAvailable') * 1024 };
}

/** `nvidia-smi` CSV rows, or undefined where there is none (or it fails). */
function gpus(): Promise<GpuUsage[] | undefined> {
  return new Promise(resolve => {
    execFile(
      'nvidia-smi',
      [
        '--query-gpu=index,name,utilization.gpu,memory.used,memory.total',
        '--format=csv,noheader,nounits'
      ],
      { timeout: 5_000 },
      (err, stdout) => {
        if (err) return resolve(undefined);
        const rows = String(stdout)
          .split('\n')
          .map(line => line.split(',').map(f => f.trim()))
          .filter(f => f.length === 5 && /^\d+$/.test(f[0]))
          .map(([index, name, utilization, used, total]) => ({
            index: Number(index),
            name,
            utilization: Number(utilization) || 0,
            memoryUsedMiB: Number(used) || 0,
            memoryTotalMiB: Number(total) || 0
          }));
        resolve(rows);
      }
    );
  });
}

export class UsageSampler {
  private previous: CpuTimes | undefined;

  async sample(): Promise<NodeUsage> {
    let before = this.previous;
    if (!before) {
      // The first answer needs an interval of its own.
      before = await cpuTimes();
      await sleep(250);
    }
    const now = await cpuTimes();
    this.previous = now;
    const spent = now.total - before.total;
    const [mem, gpu] = await Promise.all([memory(), gpus()]);
    return {
      at: new Date().toISOString(),
      cpu: {
        percent: spent > 0 ? Math.round(((now.busy - before.busy) / spent) * 1000) / 10 : 0,
        cores: now.cores
      },
      memory: mem,
      ...(gpu ? { gpus: gpu } : {})
    };
  }
}

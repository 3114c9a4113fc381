import {
  type NodeUsage,
  type SiteUsage,
  type AgentInfo,
  type AgentTakeover,
  formatWalltime,
  type Profile,
  type Session,
  type SessionState,
  type Site
} from '@jupyterlab-interlink/contract';
import type { TranslationBundle } from '@jupyterlab/translation';

/**
 * "Leonardo · 1×A100", or "Leonardo · 1×A100 · PyTorch 2.3" in a chosen environment: where a
 * session runs, by display names where the site is known.
 */
export function placeLabel(
  site: Pick<Site, 'displayName' | 'profiles' | 'environments'> | undefined,
  at: { site: string; profile: string; environment?: string }
): string {
  const profile = site?.profiles.find(p => p.id === at.profile);
  const place = `${site?.displayName ?? at.site} · ${profile?.displayName ?? at.profile}`;
  if (!at.environment) return place;
  const environment = site?.environments?.find(e => e.id === at.environment);
  return `${place} · ${environment?.displayName ?? at.environment}`;
}

export function kindLabel(kind: Site['kind']): string {
  return kind === 'hpc' ? 'HPC' : kind === 'htc' ? 'HTC' : 'Cloud';
}

export function resourcesLabel(profile: Profile, trans: TranslationBundle): string {
  const { cpu, memory, gpu, gpuType } = profile.resources;
  const parts = [cpu === 1 ? trans.__('%1 CPU', cpu) : trans.__('%1 CPUs', cpu), memory];
  if (gpu > 0) {
    parts.push(`${gpu}×${gpuType ?? 'GPU'}`);
  }
  return parts.join(' · ');
}

/** A state in the words users read on the card (Record: a new state cannot go unnamed). */
export function stateLabel(state: SessionState, trans: TranslationBundle): string {
  const words: Record<SessionState, string> = {
    pending: trans.__('Submitting'),
    queued: trans.__('Queued'),
    starting: trans.__('Starting'),
    ready: trans.__('Ready'),
    stopping: trans.__('Stopping'),
    completed: trans.__('Completed'),
    failed: trans.__('Failed'),
    cancelled: trans.__('Stopped'),
    expired: trans.__('Walltime over')
  };
  return words[state];
}

export function healthLabel(status: Site['health']['status'], trans: TranslationBundle): string {
  const words: Record<string, string> = {
    ok: trans.__('Available'),
    degraded: trans.__('Degraded'),
    down: trans.__('Down')
  };
  return words[status] ?? trans.__('Status unknown');
}

function since(iso: string | undefined, now: number): number {
  return iso ? Math.max(0, (now - Date.parse(iso)) / 1000) : 0;
}

function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** One line about time: waiting, expected start, elapsed and remaining walltime. */
export function timeLine(session: Session, now: number, trans: TranslationBundle): string {
  switch (session.state) {
    case 'pending':
    case 'queued': {
      const waiting = trans.__('waiting %1', formatWalltime(since(session.createdAt, now)));
      const expected = session.queue?.expectedStart;
      return expected
        ? `${waiting} · ${trans.__('expected to start at %1', clock(expected))}`
        : waiting;
    }
    case 'starting':
    case 'ready':
    case 'stopping': {
      const elapsed = trans.__('running %1', formatWalltime(since(session.startedAt, now)));
      if (!session.endsAt) {
        return elapsed;
      }
      const left = Math.max(0, (Date.parse(session.endsAt) - now) / 1000);
      return `${elapsed} · ${trans.__('%1 left', formatWalltime(left))}`;
    }
    default: {
      const end = Date.parse(session.updatedAt);
      return session.startedAt
        ? trans.__('ran %1', formatWalltime(since(session.startedAt, end)))
        : trans.__('never started');
    }
  }
}

const SIGNALS: Record<number, string> = {
  6: 'aborted',
  9: 'killed',
  11: 'crashed (segmentation fault)',
  15: 'terminated'
};

/** Why a job ended, from its exit code, in words; null when the reason already says it all. */
export function exitWords(
  exitCode: number | undefined,
  reason: string | undefined,
  trans: TranslationBundle
): string | null {
  // The backend already said what happened, in words: no guess beside it.
  if (exitCode === undefined || exitCode === 0 || /out of memory/i.test(reason ?? '')) {
    return null;
  }
  const signal = exitCode > 128 ? exitCode - 128 : 0;
  const how = SIGNALS[signal];
  if (signal === 9) {
    return trans.__(
      "The job was killed (signal 9): often memory above the profile's limit, or the scheduler or an administrator ended it."
    );
  }
  if (how) {
    return trans.__('The job was %1 (signal %2).', trans.__(how), signal);
  }
  return reason?.includes(String(exitCode)) ? null : trans.__('It exited with code %1.', exitCode);
}

/**
 * A scheduler's queue reason in words, with the scheduler's own code kept for the admins and the
 * docs people search ("Resources" means nothing to a physicist on their first day).
 */
export function queueWords(reason: string, trans: TranslationBundle): string {
  const known: Record<string, string> = {
    Resources: trans.__('the CPUs, GPUs or memory it asks for are in use'),
    Priority: trans.__('jobs with a higher priority go first'),
    Dependency: trans.__('it waits for another job to finish'),
    BeginTime: trans.__('it is set to start later'),
    ReqNodeNotAvail: trans.__('the nodes it needs are down, drained or reserved'),
    PartitionTimeLimit: trans.__("its walltime is above the partition's limit"),
    JobHeldAdmin: trans.__('it is on hold'),
    JobHeldUser: trans.__('it is on hold')
  };
  const atLimit = /MaxJobs|MaxSubmit|MaxCpu|MaxGRES|MaxTRES|GrpTRES|GrpJobs/.test(reason);
  const words = Object.hasOwn(known, reason)
    ? known[reason]
    : atLimit
      ? trans.__('you are at a limit of your account or QOS on this site')
      : null;
  return words ? `${words} (${reason})` : reason;
}

/** `1234@gpu-node-7 (10.0.0.5)`: which agent, as the job named itself and as the proxy saw it. */
export function agentLabel(agent: AgentInfo): string {
  const who = agent.pid !== undefined && agent.host ? `${agent.pid}@${agent.host}` : '?';
  return agent.address ? `${who} (${agent.address})` : who;
}

/** What the owner is told when another agent took a session's tunnel over. */
export function takeoverWords(
  takeover: AgentTakeover,
  where: string,
  trans: TranslationBundle
): string {
  return trans.__(
    'Another agent took over the connection of %1 at %2: %3, before it %4. If that is not your job, stop the session: someone else has its secret.',
    where,
    new Date(takeover.at).toLocaleTimeString(),
    agentLabel(takeover.current),
    agentLabel(takeover.previous)
  );
}

const GiB = 1024 ** 3;
const gib = (bytes: number) => (bytes / GiB).toFixed(1);

/** "CPU 12% of 64 cores · memory 3.1 / 16.0 GiB · GPU 0 37%, 1.0 / 40.0 GiB": a node, now. */
export function usageLine(usage: NodeUsage, trans: TranslationBundle): string {
  const parts = [
    trans.__('CPU %1% of %2 cores', Math.round(usage.cpu.percent), usage.cpu.cores),
    trans.__('memory %1 / %2 GiB', gib(usage.memory.usedBytes), gib(usage.memory.totalBytes))
  ];
  for (const gpu of usage.gpus ?? []) {
    parts.push(
      trans.__(
        'GPU %1 %2%, %3 / %4 GiB',
        gpu.index,
        Math.round(gpu.utilization),
        (gpu.memoryUsedMiB / 1024).toFixed(1),
        (gpu.memoryTotalMiB / 1024).toFixed(1)
      )
    );
  }
  return parts.join(' · ');
}

/** "This month: 12.5 GPU-hours · 100.0 core-hours": a user's share of a site, and its budget. */
export function monthLine(usage: SiteUsage, trans: TranslationBundle): string {
  const line = trans.__(
    'This month: %1 GPU-hours · %2 core-hours',
    usage.gpuHours.toFixed(1),
    usage.coreHours.toFixed(1)
  );
  return usage.budget ? `${line} · ${usage.budget}` : line;
}

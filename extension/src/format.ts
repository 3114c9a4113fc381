import {
  formatWalltime,
  type Profile,
  type Session,
  type SessionState,
  type Site
} from '@jupyterlab-interlink/contract';
import type { TranslationBundle } from '@jupyterlab/translation';

/** "Leonardo · 1×A100": where a session runs, by display names where the site is known. */
export function placeLabel(
  site: Pick<Site, 'displayName' | 'profiles'> | undefined,
  at: { site: string; profile: string }
): string {
  const profile = site?.profiles.find(p => p.id === at.profile);
  return `${site?.displayName ?? at.site} · ${profile?.displayName ?? at.profile}`;
}

export function kindLabel(kind: Site['kind']): string {
  return kind === 'hpc' ? 'HPC' : kind === 'htc' ? 'HTC' : 'Cloud';
}

export function resourcesLabel(profile: Profile, trans: TranslationBundle): string {
  const r = profile.resources;
  const parts = [r.cpu === 1 ? trans.__('%1 CPU', r.cpu) : trans.__('%1 CPUs', r.cpu), r.memory];
  if (r.gpu > 0) {
    parts.push(`${r.gpu}×${r.gpuType ?? 'GPU'}`);
  }
  return parts.join(' · ');
}

export function stateLabel(state: SessionState, trans: TranslationBundle): string {
  switch (state) {
    case 'pending':
      return trans.__('Submitting');
    case 'queued':
      return trans.__('Queued');
    case 'starting':
      return trans.__('Starting');
    case 'ready':
      return trans.__('Ready');
    case 'stopping':
      return trans.__('Stopping');
    case 'completed':
      return trans.__('Completed');
    case 'failed':
      return trans.__('Failed');
    case 'cancelled':
      return trans.__('Stopped');
    case 'expired':
      return trans.__('Walltime over');
  }
}

export function healthLabel(status: Site['health']['status'], trans: TranslationBundle): string {
  switch (status) {
    case 'ok':
      return trans.__('Available');
    case 'degraded':
      return trans.__('Degraded');
    case 'down':
      return trans.__('Down');
    default:
      return trans.__('Status unknown');
  }
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
  const words = ((): string | null => {
    switch (reason) {
      case 'Resources':
        return trans.__('the CPUs, GPUs or memory it asks for are in use');
      case 'Priority':
        return trans.__('jobs with a higher priority go first');
      case 'Dependency':
        return trans.__('it waits for another job to finish');
      case 'BeginTime':
        return trans.__('it is set to start later');
      case 'ReqNodeNotAvail':
        return trans.__('the nodes it needs are down, drained or reserved');
      case 'PartitionTimeLimit':
        return trans.__("its walltime is above the partition's limit");
      case 'JobHeldAdmin':
      case 'JobHeldUser':
        return trans.__('it is on hold');
      default:
        return /MaxJobs|MaxSubmit|MaxCpu|MaxGRES|MaxTRES|GrpTRES|GrpJobs/.test(reason)
          ? trans.__('you are at a limit of your account or QOS on this site')
          : null;
    }
  })();
  return words ? `${words} (${reason})` : reason;
}

/**
 * The launch rules, written once: the launch form checks a request with them as the user types,
 * and the proxy server checks every POST /api/sessions with them. Pure and browser-safe.
 */
import { CreateSessionRequest, firstProblem, formatWalltime } from './index.js';
import { portsProblem } from './ports.js';

/** What the rules read of a profile: the wire Profile and a site file's profile both fit. */
export interface LaunchProfile {
  id: string;
  maxWalltime: number;
  /** Walltime used when a launch names none, in seconds (one hour when unset). */
  defaultWalltime?: number;
}

/** What the rules read of a site: the wire Site and a site file's config both fit. */
export interface LaunchSite {
  id: string;
  displayName: string;
  /** A cap over every profile's own maximum (site files; the wire Site has it folded in). */
  maxWalltime?: number;
  /** Live sessions one user may have on this site at once. */
  maxSessionsPerUser?: number;
  profiles: readonly LaunchProfile[];
  /** The environments a launch may name (by id); none: the launch names none. */
  environments?: readonly { id: string }[];
}

export interface LaunchContext {
  /** Every site's id, to name them when the request's site is unknown. */
  siteIds?: readonly string[];
  /** The caller's live sessions on this site; the session limit is checked only when given. */
  liveSessions?: number;
}

/** The first broken rule: the field at fault and what is allowed, as the API answers it. */
export interface LaunchProblem {
  /** `limit_reached` is answered with 429, everything else with 400. */
  error: 'invalid_field' | 'limit_reached';
  field: string;
  message: string;
}

/** The shortest walltime a launch may ask for, in seconds (the schema's minimum). */
export const MIN_WALLTIME = 60;

/** The longest walltime this profile allows on this site, in seconds. */
export function maxWalltimeOf(site: LaunchSite, profile: LaunchProfile): number {
  return Math.min(profile.maxWalltime, site.maxWalltime ?? Infinity);
}

/** The walltime a launch gets: the one asked for, else the profile's default within its maximum. */
export function walltimeOf(
  site: LaunchSite,
  profile: LaunchProfile,
  request: Pick<CreateSessionRequest, 'walltime'>
): number {
  return (
    request.walltime ?? Math.min(profile.defaultWalltime ?? 3600, maxWalltimeOf(site, profile))
  );
}

function invalid(field: string, message: string): LaunchProblem {
  return { error: 'invalid_field', field, message: `${field}: ${message}` };
}

/**
 * Checks a launch request (as received: unknown) against the request schema and `site`'s
 * profiles and limits; returns the first problem, or undefined when the launch may go ahead.
 */
export function checkLaunch(
  site: LaunchSite | undefined,
  request: unknown,
  context: LaunchContext = {}
): LaunchProblem | undefined {
  const walltime = (request as { walltime?: unknown } | null)?.walltime;
  if (typeof walltime === 'number' && walltime < MIN_WALLTIME) {
    return invalid('walltime', `at least ${formatWalltime(MIN_WALLTIME)}`);
  }
  const ports = portsProblem((request as { ports?: unknown } | null)?.ports);
  if (ports) return invalid('ports', ports);
  const problem = firstProblem(CreateSessionRequest, request);
  if (problem) {
    return { error: 'invalid_field', field: problem.field ?? '', message: problem.message };
  }
  const launch = request as CreateSessionRequest;
  if (!site || site.id !== launch.site) {
    return invalid(
      'site',
      `unknown site "${launch.site}"; available: ${(context.siteIds ?? []).join(', ')}`
    );
  }
  const profile = site.profiles.find(p => p.id === launch.profile);
  if (!profile) {
    return invalid(
      'profile',
      `site "${site.id}" has no profile "${launch.profile}"; available: ${site.profiles.map(p => p.id).join(', ')}`
    );
  }
  const max = maxWalltimeOf(site, profile);
  const asked = walltimeOf(site, profile, launch);
  if (asked > max) {
    return invalid(
      'walltime',
      `at most ${formatWalltime(max)} with profile "${profile.id}" of site "${site.id}"; ${formatWalltime(asked)} is above the ${formatWalltime(max)} it allows`
    );
  }
  if (launch.type === 'job' && !launch.path && !launch.command) {
    return invalid('path', 'a job needs the notebook or script to run (path) or a command');
  }
  if (launch.type === 'job' && launch.ports?.length) {
    return invalid('ports', 'only kernel sessions serve ports; a job has no tunnel');
  }
  if (launch.environment !== undefined) {
    const ids = (site.environments ?? []).map(e => e.id);
    if (!ids.includes(launch.environment)) {
      return invalid(
        'environment',
        ids.length
          ? `site "${site.id}" has no environment "${launch.environment}"; available: ${ids.join(', ')}`
          : `site "${site.id}" offers no environments to choose from`
      );
    }
  }
  const live = context.liveSessions;
  if (
    site.maxSessionsPerUser !== undefined &&
    live !== undefined &&
    live >= site.maxSessionsPerUser
  ) {
    return {
      error: 'limit_reached',
      field: 'site',
      message: `you already have ${live} live session(s) on "${site.displayName}", the most this site allows; stop one first`
    };
  }
  return undefined;
}

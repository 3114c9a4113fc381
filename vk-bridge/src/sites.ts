/**
 * Site configuration: the embedded default, a YAML loader and the check that refuses a bad
 * configuration at start, naming the site and the field, so the server never runs half-configured.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { parseWalltime } from '@jupyterlab-interlink/contract';
import {
  schemaProblems,
  SiteConfig as SiteSchema
} from '@jupyterlab-interlink/contract/site-config';
import { ACCOUNT_NAME, ACCOUNT_NAME_RULE } from './accounts.js';
import { memoryBytes } from './pod.js';
import { ANNOTATIONS, PLUGIN_ANNOTATION_PREFIXES } from './types.js';
import type { ProfileConfig, SiteConfig } from './types.js';

export { DRIVERS } from '@jupyterlab-interlink/contract/site-config';
/** Drivers that place pods on an interLink virtual node and so must say which node. */
const NEEDS_NODE_SELECTOR = new Set(['kubernetes', 'interlink']);

export function defaultLocalSite(): SiteConfig {
  return {
    id: 'local',
    displayName: 'This machine',
    kind: 'cloud',
    description: 'Runs sessions as local processes next to the server',
    driver: 'local',
    maxWalltime: 8 * 3600,
    profiles: [
      {
        id: 'small',
        displayName: 'Small (1 CPU, 2 GiB)',
        resources: { cpu: 1, memory: '2Gi', gpu: 0 },
        maxWalltime: 8 * 3600,
        defaultWalltime: 3600
      },
      {
        id: 'medium',
        displayName: 'Medium (2 CPU, 4 GiB)',
        resources: { cpu: 2, memory: '4Gi', gpu: 0 },
        maxWalltime: 8 * 3600,
        defaultWalltime: 3600
      }
    ]
  };
}

export interface SiteProblem {
  site: string;
  field: string;
  message: string;
}

export class SiteConfigError extends Error {
  constructor(readonly problems: SiteProblem[]) {
    super(
      'invalid site configuration:\n' +
        problems.map(p => `  site "${p.site}", field ${p.field}: ${p.message}`).join('\n')
    );
    this.name = 'SiteConfigError';
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `profiles[0].resources.memory` from `['profiles', 0, 'resources', 'memory']`. */
function fieldName(path: (string | number)[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i ? `.${k}` : k)).join('');
}

/**
 * What the schema cannot say: ids unique, the virtual node named where a driver needs one, and
 * walltimes within the site's and the profile's maximum. Each rule looks only at fields the
 * schema found well formed, so every problem is reported at once.
 */
function ruleProblems(
  site: SiteConfig,
  wellFormed: (...path: (string | number)[]) => boolean,
  bad: (field: string, message: string) => void
): void {
  const driverKnown = wellFormed('driver');
  if (
    driverKnown &&
    NEEDS_NODE_SELECTOR.has(site.driver) &&
    wellFormed('nodeSelector') &&
    Object.keys(site.nodeSelector ?? {}).length === 0
  ) {
    bad(
      'nodeSelector',
      `is required for the ${site.driver} driver: the labels of the site's interLink virtual node, e.g. {kubernetes.io/hostname: my-vk}`
    );
  }
  if (driverKnown && site.driver === 'interlink' && !site.interlink) {
    bad(
      'interlink.url',
      'is required for the interlink driver (the interLink API: unix:///path/to.sock or an http(s) URL)'
    );
  }
  if (wellFormed('pluginAnnotations')) {
    for (const k of Object.keys(site.pluginAnnotations ?? {})) {
      const at = `pluginAnnotations["${k}"]`;
      if (!PLUGIN_ANNOTATION_PREFIXES.some(p => k.startsWith(p) && k.length > p.length))
        bad(at, `must start with ${PLUGIN_ANNOTATION_PREFIXES.join(' or ')}`);
      else if (k === ANNOTATIONS.slurmFlags || k === ANNOTATIONS.slurmPreExec)
        bad(at, 'comes from slurm.flags and slurm.preExec (and the profile), not from here');
    }
  }
  if (wellFormed('runAs') && site.runAs) {
    const { template, map, command, shared } = site.runAs;
    if (!template && !map && !command && !shared) {
      bad('runAs', 'needs template ("{username}"), map or command; or shared: true');
    }
    if (command && (template || map)) {
      bad('runAs.command', 'answers for every user: leave template and map out');
    }
    // A misspelt placeholder would map every user to one account named like the typo.
    const unknown = (text: string) => /\{(?!username\})[^}]*\}/.exec(text)?.[0];
    const placeholder = (field: string, text: string) => {
      const typo = unknown(text);
      if (typo)
        bad(field, `${typo} is not known: {username} (the hub user's name) is the only one`);
      return !typo;
    };
    if (template && placeholder('runAs.template', template)) {
      if (!ACCOUNT_NAME.test(template.replaceAll('{username}', 'a'))) {
        bad(
          'runAs.template',
          `"${template}" cannot give a Unix account name (${ACCOUNT_NAME_RULE})`
        );
      }
    }
    (command ?? []).forEach((arg, i) => placeholder(`runAs.command[${i}]`, arg));
    for (const [user, account] of Object.entries(map ?? {})) {
      if (!ACCOUNT_NAME.test(account)) {
        bad(`runAs.map.${user}`, `"${account}" is not a Unix account name (${ACCOUNT_NAME_RULE})`);
      }
    }
  }
  if (wellFormed('environments')) {
    const ids = new Set<string>();
    (site.environments ?? []).forEach((e, i) => {
      if (ids.has(e.id)) bad(`environments[${i}].id`, `duplicate environment id "${e.id}"`);
      ids.add(e.id);
    });
  }
  if (wellFormed('idle') && site.idle?.warnBefore !== undefined) {
    if (site.idle.warnBefore >= site.idle.limit) {
      bad('idle.warnBefore', `must be shorter than idle.limit (${site.idle.limit} s)`);
    }
  }
  (wellFormed('tolerations') ? (site.tolerations ?? []) : []).forEach((t, i) => {
    if (t.operator === 'Exists' && t.value !== undefined)
      bad(`tolerations[${i}].value`, 'must be left out with operator Exists');
  });
  if (!Array.isArray(site.profiles)) return;
  const siteMax = wellFormed('maxWalltime') ? site.maxWalltime : undefined;
  const profileIds = new Set<string>();
  site.profiles.forEach((p, pi) => {
    if (!wellFormed('profiles', pi)) return;
    const at = `profiles[${pi}]`;
    if (profileIds.has(p.id)) bad(`${at}.id`, `duplicate profile id "${p.id}"`);
    profileIds.add(p.id);
    if (!(memoryBytes(p.resources.memory) > 0)) {
      bad(`${at}.resources.memory`, 'must be a quantity like 512Mi or 16Gi');
    }
    if (siteMax !== undefined && p.maxWalltime > siteMax) {
      bad(
        `${at}.maxWalltime`,
        `profile "${p.id}" allows ${p.maxWalltime} s, above the site's maxWalltime of ${siteMax} s`
      );
    }
    if (p.defaultWalltime !== undefined && p.defaultWalltime > p.maxWalltime) {
      bad(`${at}.defaultWalltime`, `is above the profile's maxWalltime of ${p.maxWalltime} s`);
    }
  });
}

/**
 * Checks every site against the site file's schema and rules and throws one SiteConfigError
 * listing all problems; returns the sites typed. Accepts an array of sites or `{sites: [...]}`
 * (the YAML file's shape).
 */
export function validateSites(config: unknown): SiteConfig[] {
  const list = isRecord(config) ? config.sites : config;
  const problems: SiteProblem[] = [];
  if (!Array.isArray(list)) {
    throw new SiteConfigError([
      { site: '(none)', field: 'sites', message: 'must be a list of sites' }
    ]);
  }
  const seen = new Map<string, number>();
  list.forEach((raw: unknown, index) => {
    const site = isRecord(raw) ? raw : {};
    const id = typeof site.id === 'string' && site.id ? site.id : `#${index}`;
    const bad = (field: string, message: string) => problems.push({ site: id, field, message });
    if (!isRecord(raw)) return bad('(site)', 'must be a mapping');
    const schema = schemaProblems(SiteSchema, raw);
    for (const p of schema) bad(fieldName(p.path), p.message);
    if (typeof site.id === 'string' && !schema.some(p => p.path[0] === 'id')) {
      if (seen.has(site.id)) bad('id', `duplicate id (also site #${seen.get(site.id)})`);
      else seen.set(site.id, index);
    }
    // a field is well formed when the schema found nothing wrong at or below it
    const wellFormed = (...path: (string | number)[]) =>
      !schema.some(p => path.every((k, i) => p.path[i] === k));
    ruleProblems(raw as SiteConfig, wellFormed, bad);
  });
  if (problems.length) throw new SiteConfigError(problems);
  return list as SiteConfig[];
}

/** `8h`, `30m`, `1d`, `90s`, `4:00:00`, or a number of seconds. */
export function parseDuration(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$/.exec(value);
  if (m) return Math.round(Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's']);
  if (value.includes(':')) {
    const s = parseWalltime(value);
    return Number.isNaN(s) ? value : s;
  }
  return value;
}

function normalizeDurations(site: unknown): unknown {
  if (!isRecord(site)) return site;
  const out: Record<string, unknown> = { ...site, maxWalltime: parseDuration(site.maxWalltime) };
  if (out.maxWalltime === undefined) delete out.maxWalltime;
  if (isRecord(site.idle)) {
    out.idle = { ...site.idle, limit: parseDuration(site.idle.limit) };
    if (site.idle.warnBefore !== undefined) {
      (out.idle as Record<string, unknown>).warnBefore = parseDuration(site.idle.warnBefore);
    }
  }
  if (Array.isArray(site.profiles)) {
    out.profiles = site.profiles.map(p => {
      if (!isRecord(p)) return p;
      const q: Record<string, unknown> = { ...p, maxWalltime: parseDuration(p.maxWalltime) };
      if (p.defaultWalltime !== undefined) q.defaultWalltime = parseDuration(p.defaultWalltime);
      if (isRecord(p.resources) && typeof p.resources.memory === 'number') {
        q.resources = { ...p.resources, memory: String(p.resources.memory) };
      }
      return q as unknown as ProfileConfig;
    });
  }
  return out;
}

/**
 * Turns a parsed site document (`{sites: [...]}` or a bare list) into validated sites, accepting
 * human durations (`8h`, `4:00:00`) for walltimes. `origin` (a file path, an environment variable)
 * prefixes every message so an administrator knows where to look.
 */
export function parseSites(document: unknown, origin: string): SiteConfig[] {
  const list = isRecord(document) ? document.sites : document;
  if (!Array.isArray(list)) {
    throw new SiteConfigError([
      { site: '(none)', field: 'sites', message: `${origin} must hold a list under "sites:"` }
    ]);
  }
  try {
    return validateSites(list.map(normalizeDurations));
  } catch (err) {
    if (err instanceof SiteConfigError) err.message = `${origin}: ${err.message}`;
    throw err;
  }
}

/** Reads a YAML (or JSON) file with `sites: [...]` (or a bare list) and validates it. */
export async function loadSitesFile(path: string): Promise<SiteConfig[]> {
  const text = await readFile(path, 'utf8');
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new Error(`${path}: not valid YAML: ${(err as Error).message}`);
  }
  return parseSites(doc, path);
}

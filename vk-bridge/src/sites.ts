/**
 * Site configuration: the embedded default, a YAML loader and the check that refuses a bad
 * configuration at start, naming the site and the field, so the server never runs half-configured.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { parseWalltime } from '@jupyterlab-interlink/contract';
import { memoryBytes } from './pod.js';
import { ANNOTATIONS, PLUGIN_ANNOTATION_PREFIXES } from './types.js';
import type { ProfileConfig, SiteConfig } from './types.js';

export const DRIVERS = ['kubernetes', 'interlink', 'local', 'slurm'] as const;
export const SITE_KINDS = ['hpc', 'htc', 'cloud'] as const;
/** Drivers that place pods on an interLink virtual node and so must say which node. */
const NEEDS_NODE_SELECTOR = new Set(['kubernetes', 'interlink']);
const SITE_ID = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

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

/**
 * Checks every site and throws one SiteConfigError listing all problems; returns the sites typed.
 * Accepts an array of sites or `{sites: [...]}` (the YAML file's shape).
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
    if (typeof site.id !== 'string' || !SITE_ID.test(site.id) || site.id.length > 40) {
      bad('id', 'must be lowercase letters, digits and -, at most 40 characters');
    } else if (seen.has(site.id)) {
      bad('id', `duplicate id (also site #${seen.get(site.id)})`);
    } else {
      seen.set(site.id, index);
    }
    if (typeof site.displayName !== 'string' || !site.displayName)
      bad('displayName', 'is required');
    if (!SITE_KINDS.includes(site.kind as never)) {
      bad('kind', `must be one of ${SITE_KINDS.join(', ')} (got ${JSON.stringify(site.kind)})`);
    }
    if (!DRIVERS.includes(site.driver as never)) {
      bad('driver', `unknown driver ${JSON.stringify(site.driver)}; known: ${DRIVERS.join(', ')}`);
    }
    if (NEEDS_NODE_SELECTOR.has(site.driver as string)) {
      const ns = site.nodeSelector;
      if (!isRecord(ns) || Object.keys(ns).length === 0) {
        bad(
          'nodeSelector',
          `is required for the ${String(site.driver)} driver: the labels of the site's interLink virtual node, e.g. {kubernetes.io/hostname: my-vk}`
        );
      } else if (Object.values(ns).some(v => typeof v !== 'string')) {
        bad('nodeSelector', 'values must be strings');
      }
    }
    if (site.driver === 'interlink') {
      const il = site.interlink;
      if (
        !isRecord(il) ||
        typeof il.url !== 'string' ||
        !/^(https?:\/\/|unix:\/\/\/)/.test(il.url)
      ) {
        bad(
          'interlink.url',
          'is required for the interlink driver (the interLink API: unix:///path/to.sock or an http(s) URL)'
        );
      } else {
        for (const k of ['tokenFile', 'caFile', 'certFile', 'keyFile'])
          if (il[k] !== undefined && typeof il[k] !== 'string')
            bad(`interlink.${k}`, 'must be a path');
        for (const k of ['insecure', 'statusPerPod'])
          if (il[k] !== undefined && typeof il[k] !== 'boolean')
            bad(`interlink.${k}`, 'must be true or false');
      }
    }
    if (site.pluginAnnotations !== undefined) {
      const pa = site.pluginAnnotations;
      if (!isRecord(pa)) bad('pluginAnnotations', 'must be a mapping of annotation to value');
      else
        for (const [k, v] of Object.entries(pa)) {
          const at = `pluginAnnotations["${k}"]`;
          if (!PLUGIN_ANNOTATION_PREFIXES.some(p => k.startsWith(p) && k.length > p.length))
            bad(at, `must start with ${PLUGIN_ANNOTATION_PREFIXES.join(' or ')}`);
          else if (k === ANNOTATIONS.slurmFlags || k === ANNOTATIONS.slurmPreExec)
            bad(at, 'comes from slurm.flags and slurm.preExec (and the profile), not from here');
          if (typeof v !== 'string') bad(at, 'must be a string');
        }
    }
    if (site.tolerations !== undefined) {
      if (!Array.isArray(site.tolerations)) bad('tolerations', 'must be a list');
      else
        site.tolerations.forEach((t: unknown, i: number) => {
          const at = `tolerations[${i}]`;
          if (!isRecord(t) || typeof t.key !== 'string' || !t.key)
            return bad(`${at}.key`, 'is required (the taint key of the virtual node)');
          if (t.operator !== undefined && !['Exists', 'Equal'].includes(t.operator as string))
            bad(`${at}.operator`, 'must be Exists or Equal');
          if (t.operator === 'Exists' && t.value !== undefined)
            bad(`${at}.value`, 'must be left out with operator Exists');
          if (t.value !== undefined && typeof t.value !== 'string')
            bad(`${at}.value`, 'must be a string');
          if (
            t.effect !== undefined &&
            !['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect as string)
          )
            bad(`${at}.effect`, 'must be NoSchedule, PreferNoSchedule or NoExecute');
        });
    }
    const strings = (v: unknown) => Array.isArray(v) && v.every(x => typeof x === 'string');
    if (
      site.agentCommand !== undefined &&
      (!strings(site.agentCommand) || (site.agentCommand as string[]).length === 0)
    ) {
      bad('agentCommand', 'must be a non-empty list of strings (the argv of the agent)');
    }
    if (site.slurm !== undefined) {
      const sl = isRecord(site.slurm) ? site.slurm : undefined;
      if (!sl) bad('slurm', 'must be a mapping');
      else {
        for (const k of ['partition', 'account', 'preExec', 'conf', 'workDir']) {
          if (sl[k] !== undefined && typeof sl[k] !== 'string')
            bad(`slurm.${k}`, 'must be a string');
        }
        if (sl.flags !== undefined && !strings(sl.flags))
          bad('slurm.flags', 'must be a list of strings, e.g. ["--qos=normal"]');
      }
    }
    if (
      isRecord(site.local) &&
      site.local.isolation !== undefined &&
      !['none', 'bubblewrap'].includes(site.local.isolation as string)
    ) {
      bad('local.isolation', 'must be none or bubblewrap');
    }
    let siteMax: number | undefined;
    if (site.maxWalltime !== undefined) {
      if (typeof site.maxWalltime !== 'number' || !(site.maxWalltime >= 60)) {
        bad('maxWalltime', 'must be a number of seconds ≥ 60');
      } else siteMax = site.maxWalltime;
    }
    if (!Array.isArray(site.profiles) || site.profiles.length === 0) {
      bad('profiles', 'at least one profile is required');
      return;
    }
    const profileIds = new Set<string>();
    site.profiles.forEach((rawProfile: unknown, pi) => {
      const p = isRecord(rawProfile) ? rawProfile : {};
      const at = `profiles[${pi}]`;
      if (typeof p.id !== 'string' || !SITE_ID.test(p.id)) {
        bad(`${at}.id`, 'must be lowercase letters, digits and -');
      } else if (profileIds.has(p.id)) {
        bad(`${at}.id`, `duplicate profile id "${p.id}"`);
      } else profileIds.add(p.id);
      if (typeof p.displayName !== 'string' || !p.displayName)
        bad(`${at}.displayName`, 'is required');
      const r = isRecord(p.resources) ? p.resources : undefined;
      if (!r) {
        bad(`${at}.resources`, 'is required: {cpu, memory, gpu}');
      } else {
        if (typeof r.cpu !== 'number' || !(r.cpu > 0))
          bad(`${at}.resources.cpu`, 'must be a number > 0');
        if (typeof r.memory !== 'string' || !(memoryBytes(r.memory) > 0)) {
          bad(`${at}.resources.memory`, 'must be a quantity like 512Mi or 16Gi');
        }
        if (!Number.isInteger(r.gpu) || (r.gpu as number) < 0) {
          bad(`${at}.resources.gpu`, 'must be a whole number ≥ 0');
        }
      }
      if (typeof p.maxWalltime !== 'number' || !(p.maxWalltime >= 60)) {
        bad(`${at}.maxWalltime`, 'must be a number of seconds ≥ 60');
      } else if (siteMax !== undefined && p.maxWalltime > siteMax) {
        bad(
          `${at}.maxWalltime`,
          `profile "${String(p.id)}" allows ${p.maxWalltime} s, above the site's maxWalltime of ${siteMax} s`
        );
      }
      if (p.defaultWalltime !== undefined) {
        if (typeof p.defaultWalltime !== 'number' || !(p.defaultWalltime >= 60)) {
          bad(`${at}.defaultWalltime`, 'must be a number of seconds ≥ 60');
        } else if (typeof p.maxWalltime === 'number' && p.defaultWalltime > p.maxWalltime) {
          bad(`${at}.defaultWalltime`, `is above the profile's maxWalltime of ${p.maxWalltime} s`);
        }
      }
    });
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

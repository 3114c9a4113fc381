/**
 * What the launch form sends and what it says is wrong, as the user types: the contract's launch
 * rules plus the one thing only the form sees, walltime text that is no walltime. Pure.
 */
import { parseWalltime, type Site } from '@jupyterlab-interlink/contract';
import { checkLaunch } from '@jupyterlab-interlink/contract/launch';
import type { TranslationBundle } from '@jupyterlab/translation';

export interface ILaunchFields {
  profile: string;
  /** As typed: H:MM:SS, D-HH:MM:SS or minutes; empty for the profile's default. */
  walltime: string;
  type: 'kernel' | 'job';
  path: string;
  name: string;
  /** Kernel sessions: ports of web apps in the job as typed, e.g. "6006, 8787"; empty for none. */
  ports?: string;
  /** One of the site's environments; empty or absent: the site's default (its first). */
  environment?: string;
}

export interface IFieldProblem {
  field?: string;
  message: string;
}

/** The fields the form validates and shows errors beside; others are shown under the form. */
export const FORM_FIELDS = ['profile', 'environment', 'walltime', 'type', 'path', 'name', 'ports'];

/** "6006, 8787" → [6006, 8787]; a word that is no number goes as it is, so the rules name it. */
export function portsOfText(text: string): unknown[] {
  return text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map(word => (/^[0-9]+$/.test(word) ? Number(word) : word));
}

/** The POST body: unparsable walltime text goes as it is, so the schema names the field. */
export function launchRequest(
  site: Pick<Site, 'id'>,
  fields: ILaunchFields
): Record<string, unknown> {
  const request: Record<string, unknown> = {
    site: site.id,
    profile: fields.profile,
    type: fields.type
  };
  if (fields.walltime.trim()) {
    const seconds = parseWalltime(fields.walltime);
    request.walltime = Number.isNaN(seconds) ? fields.walltime : seconds;
  }
  if (fields.type === 'job' && fields.path) {
    request.path = fields.path;
  }
  if (fields.name) {
    request.name = fields.name;
  }
  if (fields.environment) {
    request.environment = fields.environment;
  }
  const ports = fields.type === 'kernel' ? portsOfText(fields.ports ?? '') : [];
  if (ports.length > 0) {
    request.ports = ports;
  }
  return request;
}

/** The first problem with what the form holds, or null when it may be sent. */
export function formProblem(
  site: Site,
  fields: ILaunchFields,
  trans: Pick<TranslationBundle, '__'>
): IFieldProblem | null {
  if (fields.walltime.trim() && Number.isNaN(parseWalltime(fields.walltime))) {
    return {
      field: 'walltime',
      message: trans.__('walltime: write it as H:MM:SS, D-HH:MM:SS or minutes')
    };
  }
  return checkLaunch(site, launchRequest(site, fields)) ?? null;
}

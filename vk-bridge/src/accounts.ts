/**
 * Which Unix account a hub user's jobs run as on a site (the site file's `runAs`), and what this
 * machine knows of that account. HPC centres map hub users to their own accounts: a template
 * (`{username}`), a table, or a command of the admin's (as a submit host's sudo rules or
 * interLink's `runAsUser` do). One account for several users lets each read the others' secrets,
 * tokens and files, so under JupyterHub a site must map, or say `shared: true`.
 */
import { execFile } from 'node:child_process';
import { chmod, chown, lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SiteConfig } from './types.js';

const run = promisify(execFile);

/** An account; uid, gid and home where this machine knows it (a remote site's may be its own). */
export interface Account {
  name: string;
  uid?: number;
  gid?: number;
  home?: string;
  shell?: string;
}

/** Unix user names as useradd takes them (and nothing a shell or a path could misread). */
export const ACCOUNT_NAME = /^[a-z_][a-z0-9_.-]{0,31}\$?$/i;
/** ACCOUNT_NAME in words, for the messages that refuse a name. */
export const ACCOUNT_NAME_RULE = 'a letter or _, then up to 31 letters, digits, _, . or -';

const fill = (text: string, username: string) => text.replaceAll('{username}', username);

/**
 * The account name for a hub user on a site, or undefined when the site maps none (jobs run as
 * the service's own account). Throws with a message for the user when the mapping has no answer.
 */
export async function accountName(site: SiteConfig, username: string): Promise<string | undefined> {
  const runAs = site.runAs;
  if (!runAs || (!runAs.template && !runAs.map && !runAs.command)) return undefined;
  let name: string | undefined;
  if (runAs.command) {
    try {
      const { stdout } = await run(
        runAs.command[0],
        runAs.command.slice(1).map(a => fill(a, username)),
        {
          timeout: 10_000
        }
      );
      name = stdout.split('\n')[0].trim();
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(
        `site "${site.id}" maps no account for ${username}: ${runAs.command[0]} failed (${(e.stderr || e.message).trim()})`
      );
    }
  } else {
    name = runAs.map?.[username] ?? (runAs.template ? fill(runAs.template, username) : undefined);
  }
  if (!name) throw new Error(`site "${site.id}" maps no account for ${username}: ask its admin`);
  if (!ACCOUNT_NAME.test(name)) {
    throw new Error(
      `site "${site.id}" maps ${username} to "${name}", which is not an account name`
    );
  }
  return name;
}

/** The account as this machine's user database has it (`getent passwd`). */
export async function lookupAccount(name: string): Promise<Account> {
  let line: string;
  try {
    line = (await run('getent', ['passwd', name], { timeout: 10_000 })).stdout.trim();
  } catch {
    throw new Error(`the account "${name}" does not exist on this machine`);
  }
  const [, , uid, gid, , home, shell] = line.split(':');
  return { name, uid: Number(uid), gid: Number(gid), home, shell };
}

/**
 * Why a site would run several hub users as one account, or undefined when it maps each to
 * their own (or the admin said `shared: true`). The proxy server refuses such a site under a hub.
 */
export function sharedAccountProblem(site: SiteConfig): string | undefined {
  const runAs = site.runAs;
  if (runAs?.shared) return undefined;
  if (!runAs || (!runAs.template && !runAs.map && !runAs.command)) {
    return `site "${site.id}" runs every user's jobs as the service's own account, so each user's kernel could read the others' secrets, tokens and files. Map users to accounts with runAs (template: "{username}", map, or command), or set runAs.shared: true if that is what you mean.`;
  }
  const accounts = Object.values(runAs.map ?? {});
  const twice = accounts.find((a, i) => accounts.indexOf(a) !== i);
  if (twice) {
    return `site "${site.id}" maps several users to the account "${twice}" in runAs.map; give each their own, or set runAs.shared: true if that is what you mean.`;
  }
  const taken =
    runAs.template && runAs.map ? mapTakesTemplated(runAs.template, runAs.map) : undefined;
  if (taken) {
    return `site "${site.id}" maps ${taken.user} to "${taken.account}" in runAs.map, the account runAs.template gives ${taken.other}; give each their own, or set runAs.shared: true if that is what you mean.`;
  }
  if (runAs.template && !runAs.template.includes('{username}') && !runAs.command) {
    return `site "${site.id}" maps every user to the account "${runAs.template}" (runAs.template has no {username}); set runAs.shared: true if that is what you mean.`;
  }
  return undefined;
}

/**
 * Which hub user each mapped account runs jobs for, per site: one account, one user. What the
 * site file shows is checked at start (sharedAccountProblem); this catches what only launches
 * show, such as a command that prints one account for everyone or a table entry that names the
 * account the template gives another user. A site with `runAs.shared` is left alone.
 */
export class AccountHolders {
  private readonly holders = new Map<string, string>();

  /**
   * Records that `account` runs `user`'s jobs on the site; a message for the user, and nothing
   * recorded, when it already runs another user's.
   */
  claim(site: SiteConfig, account: string, user: string): string | undefined {
    if (site.runAs?.shared) return undefined;
    const key = JSON.stringify([site.id, account]);
    const holder = this.holders.get(key);
    if (holder === undefined) this.holders.set(key, user);
    else if (holder !== user) {
      // The other user's name is theirs to tell: the message names the account only.
      return `site "${site.id}" maps ${user} to "${account}", which already runs another user's jobs: one account for two users lets each read the other's secrets and files. Ask the site's admin to give each user their own account (or to set runAs.shared: true).`;
    }
    return undefined;
  }
}

/**
 * A table entry whose account is what the template gives another user (map {alice: ilk-bob}
 * with template ilk-{username}: bob, unlisted, gets ilk-bob too).
 */
function mapTakesTemplated(
  template: string,
  map: Record<string, string>
): { user: string; account: string; other: string } | undefined {
  const parts = template.split('{username}').map(p => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  if (parts.length < 2) return undefined;
  const pattern = new RegExp(`^${parts[0]}(.+?)${parts.slice(1).join('\\1')}$`);
  for (const [user, account] of Object.entries(map)) {
    const other = pattern.exec(account)?.[1];
    if (other !== undefined && other !== user && !(other in map)) return { user, account, other };
  }
  return undefined;
}

/** The uid and gid a pod asks to run as, when that is not this process's own account. */
export function runAsOf(pod: {
  spec?: { securityContext?: { runAsUser?: number; runAsGroup?: number } };
}): { uid: number; gid: number } | undefined {
  const ctx = pod.spec?.securityContext;
  if (ctx?.runAsUser === undefined || ctx.runAsUser === process.getuid?.()) return undefined;
  return { uid: ctx.runAsUser, gid: ctx.runAsGroup ?? ctx.runAsUser };
}

/**
 * Why this process cannot start a job as `runAs`, or undefined when it can: only root changes
 * accounts (a site that maps users needs the service run as root, as a submit host's daemon is).
 */
export function cannotRunAs(site: SiteConfig, runAs: { uid: number }): string | undefined {
  if (process.getuid?.() === 0) return undefined;
  return `site "${site.id}" runs jobs as uid ${runAs.uid}, but the service is not root and cannot start processes as another account (run it as root, or leave runAs out)`;
}

/** `argv` run as the account, with its groups, by util-linux's setpriv (environment kept). */
export function asAccount(argv: string[], runAs: { uid: number; gid: number }): string[] {
  return [
    'setpriv',
    `--reuid=${runAs.uid}`,
    `--regid=${runAs.gid}`,
    '--init-groups',
    '--',
    ...argv
  ];
}

/**
 * Gives a job's files to its account: `paths` (files or folders, recursively) become its own,
 * private to it. The folders above them stay as they are, with search (x) added for group and
 * others so the job can pass: the driver's own folders (made 0700) become 0711, passable but not
 * listable, so the job cannot touch the driver's records beside its files; a folder the admin
 * named or its parent (a world-writable, sticky /scratch) loses no bit.
 */
export async function handOver(
  paths: string[],
  parents: string[],
  runAs: { uid: number; gid: number }
): Promise<void> {
  for (const dir of parents) {
    const { mode } = await stat(dir);
    if ((mode & 0o011) !== 0o011) await chmod(dir, (mode & 0o7777) | 0o011);
  }
  const give = async (path: string): Promise<void> => {
    const info = await lstat(path);
    if (info.isSymbolicLink()) return;
    await chown(path, runAs.uid, runAs.gid);
    if (info.isDirectory()) {
      await chmod(path, 0o700);
      for (const entry of await readdir(path)) await give(join(path, entry));
    }
  };
  for (const path of paths) await give(path);
}

/**
 * Remote files: a ready session's own files in a file browser of their own (its remote server's
 * contents, through the tunnel); a file opened there is edited and saved on the remote side, and
 * the browser goes when the session does. On the local site (and the local Slurm's jobs) the remote
 * side is this machine, so the test reads what was saved straight from the disk.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '../fixtures';
import { notebookDir, port, slurm } from '../frontdoor';
import { openSites, runOn, shot, launchesSessions } from '../helpers';

launchesSessions();

/**
 * This lab's Node service: the child of the process listening on its port. Never found by name
 * alone, which would reach every other lab's service on the machine too.
 */
function servicePids(): number[] {
  const listening = execFileSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' });
  const lab = /pid=(\d+)/.exec(listening)?.[1];
  if (!lab) throw new Error(`nothing listens on port ${port}`);
  return execFileSync('pgrep', ['-P', lab, '-f', 'jupyterlab_interlink/node/cli.js'], {
    encoding: 'utf8'
  })
    .trim()
    .split('\n')
    .map(Number);
}

test('a session’s files open, edit and save through its own file browser, which ends with it', async ({
  lab: page
}, testInfo) => {
  const name = `remote-${randomBytes(4).toString('hex')}.txt`;
  writeFileSync(join(notebookDir, name), 'first line\n');
  const panel = await openSites(page);
  const { card, id } = await runOn(panel, 'local', 'small');
  await expect(card).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });

  await card.getByTestId('interlink-files').click();
  const browser = page.getByTestId(`interlink-files-${id}`);
  await expect(browser).toBeVisible();
  const item = browser.locator('.jp-DirListing-item', { hasText: name });
  await expect(item).toBeVisible();
  await shot(page, testInfo, 'remote-files');
  await item.dblclick();

  // The editor holds the remote drive's document.
  const path = await page.evaluate(() => {
    const app = (window as unknown as { jupyterapp: { shell: { currentWidget: unknown } } })
      .jupyterapp;
    return (app.shell.currentWidget as { context?: { path: string } }).context?.path;
  });
  expect(path).toBe(`interlink-${id}:${name}`);
  const editor = page.locator('.jp-FileEditor .cm-content');
  await expect(editor).toContainText('first line');
  await editor.click();
  await page.keyboard.press('Control+End');
  await page.keyboard.type('written through the tunnel');
  await page.keyboard.press('Control+s');
  await expect
    .poll(() => readFileSync(join(notebookDir, name), 'utf8'))
    .toBe('first line\nwritten through the tunnel');

  // Stopped: its file browser goes with it.
  await openSites(page);
  await card.getByTestId('interlink-stop').click();
  await page.locator('.jp-Dialog').getByRole('button', { name: 'Stop', exact: true }).click();
  await expect(browser).toHaveCount(0, { timeout: 30_000 });
});

// The local site, and the Slurm site where the session is a Slurm job (its agent dials back
// from the job when the tunnel is cut).
// The remote side's folder is on this machine: JupyterLab's for the local site, the job's home
// for a Slurm job (as on a cluster, where it starts in the user's home).
const copySites = [
  { site: 'local', profile: 'small', title: 'the local site', remoteRoot: notebookDir },
  ...(slurm
    ? [{ site: 'leonardo', profile: 'a100-1', title: 'a Slurm job', remoteRoot: homedir() }]
    : [])
];

for (const { site, profile, title, remoteRoot } of copySites) {
  test(`a large file copies to ${title} (through a tunnel cut) and back, byte for byte, with progress`, async ({
    lab: page,
    tmpPath
  }) => {
    test.setTimeout(240_000);
    // The paths the writes take: raw bytes, never base64 through the contents API.
    const puts: string[] = [];
    page.on('request', r => {
      if (r.method() === 'PUT') puts.push(new URL(r.url()).pathname);
    });
    const panel = await openSites(page);
    const { card, id } = await runOn(panel, site, profile);
    await expect(card).toHaveAttribute('data-state', 'ready', { timeout: 120_000 });
    // 64 MiB of random bytes in the folder the file browser shows.
    const name = `big-${randomBytes(4).toString('hex')}.bin`;
    const original = randomBytes(64 * 2 ** 20);
    const hash = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(notebookDir, tmpPath, name), original);
    await page.sidebar.openTab('filebrowser');
    await page.filebrowser.refresh();

    // JupyterLab's files → the session's (its root).
    await page
      .locator('#filebrowser .jp-DirListing-item', { hasText: name })
      .click({ button: 'right' });
    await page.getByRole('menuitem', { name: 'Copy to a Remote Session…' }).click();
    // Progress shows; a quarter of the way, the tunnel is cut: the Node service behind
    // JupyterLab dies (JupyterLab starts it again, the agent dials back).
    const progress = page.locator('.Toastify__toast', { hasText: `Copying ${name} to` });
    await expect(progress).toContainText(/: (1[6-9]|[2-5]\d)\.\d of 64\.0 MiB/, {
      timeout: 60_000
    });
    for (const pid of servicePids()) process.kill(pid, 'SIGKILL');
    await expect(page.locator('.Toastify__toast', { hasText: `Copied ${name} to` })).toBeVisible({
      timeout: 120_000
    });
    expect(hash(readFileSync(join(remoteRoot, name)))).toBe(hash(original));

    // …and back, from the session's file browser into JupyterLab's (the original gone first).
    rmSync(join(notebookDir, tmpPath, name));
    await page.filebrowser.refresh();
    await openSites(page);
    await card.getByTestId('interlink-files').click();
    const remote = page.getByTestId(`interlink-files-${id}`);
    await remote.locator('.jp-DirListing-item', { hasText: name }).click({ button: 'right' });
    await page.getByRole('menuitem', { name: "Copy to JupyterLab's Files" }).click();
    await expect(
      page.locator('.Toastify__toast', { hasText: `Copied ${name} to ${tmpPath}` })
    ).toBeVisible({ timeout: 120_000 });
    expect(hash(readFileSync(join(notebookDir, tmpPath, name)))).toBe(hash(original));
    rmSync(join(remoteRoot, name));
    expect(puts).toContainEqual(expect.stringMatching(`/sessions/${id}/files-write/${name}$`));
    expect(puts).toContainEqual(
      expect.stringMatching(`^/interlink/files-write/${tmpPath}/${name}$`)
    );
    expect(puts.filter(p => p.includes('/api/contents/'))).toEqual([]);
  });
}

/**
 * "Run on Leonardo": a remote GPU kernel that is a real Slurm job on the single-node Slurm the
 * front door started (scripts/slurm-local.sh), queued while the node is busy, then used from a
 * notebook, then stopped with scancel.
 */
import { execFileSync } from 'node:child_process';
import { expect, test } from '../fixtures';
import { repoRoot, slurm, token } from '../frontdoor';
import { cleanUp, expectKernel, newNotebook, openSites, run, runOn, shot } from '../helpers';

test.skip(!slurm, 'needs Debian slurm-wlm and munge (UI_TESTS_SLURM=1)');
test.describe.configure({ mode: 'serial', timeout: 240_000 });

const auth = { Authorization: `token ${token}` };

/** Runs a Slurm client against the tests' cluster. */
function slurmCommand(command: string, args: string[]): string {
  const conf = execFileSync('bash', [`${repoRoot}/scripts/slurm-local.sh`, 'env'])
    .toString()
    .split('=')[1]
    .trim();
  return execFileSync(command, args, { env: { ...process.env, SLURM_CONF: conf } })
    .toString()
    .trim();
}

test.afterEach(async ({ lab: page }) => cleanUp(page, page.request, auth));

test('Run on Leonardo waits in the queue, gives a GPU kernel in a notebook, and stop cancels the job', async ({
  lab: page
}, testInfo) => {
  const panel = await openSites(page);
  const site = panel.getByTestId('interlink-site-leonardo');
  await expect(site.locator('.jp-InterlinkBadge')).toHaveText('HPC');

  // Another user's job holds the whole node: ours waits, and the card says why.
  const blocker = slurmCommand('sbatch', [
    '--parsable',
    '--exclusive',
    '--time=5',
    '--job-name=someone-else',
    '--output=/dev/null',
    '--wrap=sleep 300'
  ]);
  let session: { backendId?: string };
  try {
    await expect
      .poll(() => slurmCommand('squeue', ['-h', '-j', blocker, '-o', '%t']), { timeout: 30_000 })
      .toBe('R');
    const { card, id } = await runOn(panel, 'leonardo', 'a100-1');
    await expect(card).toHaveAttribute('data-state', 'queued', { timeout: 30_000 });
    await expect(card.getByTestId('interlink-session-queue')).toContainText(
      'the CPUs, GPUs or memory it asks for are in use (Resources)'
    );
    // Slurm knows when the blocker's time limit ends: so does the card.
    await expect(card.getByTestId('interlink-session-time')).toContainText('expected to start at', {
      timeout: 30_000
    });
    await shot(page, testInfo, 'slurm-queued');
    session = await (
      await page.request.get(`/interlink/api/sessions/${id}`, { headers: auth })
    ).json();
    expect(slurmCommand('squeue', ['-h', '-j', session.backendId!, '-o', '%t %r'])).toBe(
      'PD Resources'
    );
  } finally {
    slurmCommand('scancel', [blocker]);
  }

  // The node frees up: the job starts, its agent dials back, the kernel is ready.
  const card = panel.locator('[data-testid="interlink-sessions"] > li').first();
  await expect(card).toHaveAttribute('data-state', 'ready', { timeout: 90_000 });
  // The site's card follows what the node has free: one of its two GPUs is ours now.
  const freeGpus = panel.getByTestId('interlink-free-gpus-leonardo');
  await expect(freeGpus).toHaveText('1 GPU free');
  const notebook = await newNotebook(page);
  await card.getByTestId('interlink-use').click();
  await expectKernel(notebook, '— Leonardo (local Slurm) · 1×A100');
  const seen = await run(
    page,
    notebook,
    "import os; print(os.environ['SLURM_JOB_ID'], os.environ.get('CUDA_VISIBLE_DEVICES'))"
  );
  expect(seen).toBe(`${session.backendId} 0`);
  await shot(page, testInfo, 'slurm-gpu-kernel');

  await card.getByTestId('interlink-stop').click();
  await page.locator('.jp-Dialog').getByRole('button', { name: 'Stop', exact: true }).click();
  await expect(card).toHaveAttribute('data-state', 'cancelled', { timeout: 30_000 });
  await expect
    .poll(() => slurmCommand('squeue', ['-h', '-t', 'all', '-j', session.backendId!, '-o', '%t']), {
      timeout: 30_000
    })
    .toMatch(/^(CA|)$/);
  // The node finishing our job is still up for the next one.
  await expect(site.locator('.jp-InterlinkHealth')).toHaveText('Available');
});

/**
 * A site's idle limit in JupyterLab: a kernel session on the "Quick idle limit" site (20 s, a
 * warning 15 s before) is announced idle with "Keep running"; keeping it withdraws the warning;
 * left alone it stops, and its card says why.
 */
import { expect, test } from '../fixtures';
import { openSites, runOn, shot, launchesSessions } from '../helpers';

launchesSessions();

test('an idle kernel session is warned about, kept running, then stopped with the reason', async ({
  lab: page
}, testInfo) => {
  const panel = await openSites(page);
  const { card } = await runOn(panel, 'idle-test', 'small');
  await expect(card).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });

  // Idle 5 s: the warning, as a notification with its action and on the card.
  const toast = page.locator('.Toastify__toast', { hasText: 'have been idle since' });
  await expect(toast).toBeVisible({ timeout: 30_000 });
  await expect(card.getByTestId('interlink-session-idle')).toContainText('stops at');
  await shot(page, testInfo, 'idle-warning');
  await toast.getByRole('button', { name: 'Keep running' }).click();
  await expect(card.getByTestId('interlink-session-idle')).toHaveCount(0);
  await expect(toast).toHaveCount(0);
  await expect(card).toHaveAttribute('data-state', 'ready');

  // Left alone for the whole limit this time: stopped, and the card says why.
  await expect(card).toHaveAttribute('data-state', 'cancelled', { timeout: 60_000 });
  await expect(card.getByTestId('interlink-session-reason')).toContainText(
    "stopped after 0:00:20 without kernel activity (the site's idle limit)"
  );
  await shot(page, testInfo, 'idle-stopped');
});

/**
 * A site's idle limit in JupyterLab, on a clock the test moves (../clock.ts: Playwright's in the
 * page, libfaketime's under `jupyter lab`): a kernel session on the "Idle limit (30 min)" site,
 * left idle 21 minutes, is announced with "Keep running" (the warning comes 10 minutes before the
 * stop); keeping it withdraws the warning, and the next 21 minutes bring no stop; left alone for
 * the whole limit after that, it stops, and its card says why.
 */
import { expect, test } from '../fixtures';
import { advanceClocks, resetServerClock } from '../clock';
import { serverClock } from '../frontdoor';
import { openSites, runOn, shot, launchesSessions } from '../helpers';

launchesSessions();
test.afterEach(() => resetServerClock(serverClock));

const MINUTE = 60_000;

test('an idle kernel session is warned about, kept running, then stopped with the reason', async ({
  lab: page
}, testInfo) => {
  await page.clock.install();
  const panel = await openSites(page);
  const { card } = await runOn(panel, 'idle-test', 'small');
  await expect(card).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  const toast = page.locator('.Toastify__toast', { hasText: 'have been idle since' });
  const warning = card.getByTestId('interlink-session-idle');

  // 19 idle minutes: no warning yet (the service checks every 30 s of true time).
  await advanceClocks(page, serverClock, 19 * MINUTE);
  await page.waitForTimeout(35_000);
  await expect(warning).toHaveCount(0);

  // 21: the warning, as a notification with its action and on the card.
  await advanceClocks(page, serverClock, 2 * MINUTE);
  await expect(toast).toBeVisible({ timeout: 45_000 });
  await expect(warning).toContainText('stops at');
  await shot(page, testInfo, 'idle-warning');
  await toast.getByRole('button', { name: 'Keep running' }).click();
  await expect(warning).toHaveCount(0);
  await expect(toast).toHaveCount(0);

  // Kept: 19 more idle minutes pass without a warning or a stop.
  await advanceClocks(page, serverClock, 19 * MINUTE);
  await page.waitForTimeout(35_000);
  await expect(warning).toHaveCount(0);
  await expect(card).toHaveAttribute('data-state', 'ready');

  // Left alone for the whole limit this time: stopped, and the card says why.
  await advanceClocks(page, serverClock, 12 * MINUTE);
  await expect(card).toHaveAttribute('data-state', 'cancelled', { timeout: 45_000 });
  await expect(card.getByTestId('interlink-session-reason')).toContainText(
    "stopped after 0:30:00 without kernel activity (the site's idle limit)"
  );
  await shot(page, testInfo, 'idle-stopped');
});

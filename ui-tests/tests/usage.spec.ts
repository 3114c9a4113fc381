/**
 * Usage in the Remote sites panel: a ready session's node figures arrive by themselves (pushed),
 * the GPU line from the stand-in nvidia-smi the jobs find on their PATH (ui-tests/bin); the site
 * card says what this month's sessions used.
 */
import { expect, test } from '../fixtures';
import { openSites, runOn, shot, launchesSessions } from '../helpers';

launchesSessions();

test('a ready session shows its node’s CPU, memory and GPU use, and the site the month’s hours', async ({
  lab: page
}, testInfo) => {
  const panel = await openSites(page);
  const { card } = await runOn(panel, 'local', 'small');
  await expect(card).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  const usage = card.getByTestId('interlink-session-usage');
  await expect(usage).toContainText(/CPU \d+% of \d+ cores · memory [\d.]+ \/ [\d.]+ GiB/, {
    timeout: 30_000
  });
  await expect(usage).toContainText('GPU 0 37%, 1.0 / 40.0 GiB');
  await expect(panel.getByTestId('interlink-month-local')).toContainText(
    /This month: [\d.]+ GPU-hours · [\d.]+ core-hours/
  );
  await shot(page, testInfo, 'session-usage');
});

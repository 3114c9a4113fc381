import { defineConfig } from '@playwright/test';
import { baseURL, server } from './frontdoor';

// Galata's base configuration, as JupyterLab's extension template uses it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const galataConfig = require('@jupyterlab/galata/lib/playwright-config');

// Two runs sharing one checkout would wipe each other's artifacts: give each its own folders.
const outputDir = process.env.UI_TESTS_OUTPUT_DIR ?? 'test-results';
const reportDir = process.env.UI_TESTS_REPORT_DIR ?? 'playwright-report';

const chromium = {
  // Debian's Chromium: Playwright never downloads a browser here. Each launch gets a fresh
  // temporary profile from Playwright itself.
  executablePath: '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync'
  ]
};

export default defineConfig({
  ...galataConfig,
  testDir: './tests',
  outputDir,
  // One JupyterLab, two cores shared with the rest of the machine: run tests one at a time.
  workers: 1,
  fullyParallel: false,
  timeout: 90_000,
  expect: { timeout: 20_000 },
  retries: 0,
  reporter: [['list'], ['html', { open: 'never', outputFolder: reportDir }]],
  use: {
    ...galataConfig.use,
    baseURL,
    headless: true,
    screenshot: 'on',
    trace: 'retain-on-failure',
    video: 'off',
    viewport: { width: 1280, height: 800 },
    // The real server's settings and workspaces, as users have them (the specs change settings
    // through the REST API and reload).
    mockSettings: false,
    mockState: false,
    launchOptions: chromium
  },
  projects: [
    // The standalone product: `jupyter lab` with the wheel (this config's webServer).
    { name: 'standalone', testIgnore: ['**/hub*.spec.ts'] },
    // The JupyterHub suites start their own hubs; they only borrow this config's browser.
    { name: 'hub', testMatch: ['**/hub*.spec.ts'] }
  ],
  webServer: {
    command: server.command,
    cwd: server.cwd,
    env: server.env,
    url: server.ready,
    timeout: 120_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    gracefulShutdown: { signal: 'SIGTERM', timeout: 5_000 }
  }
});

import { defineConfig } from '@playwright/test';
import { baseURL, server } from './frontdoor';

// Two runs sharing one checkout would wipe each other's artifacts: give each its own folders.
const outputDir = process.env.UI_TESTS_OUTPUT_DIR ?? 'test-results';
const reportDir = process.env.UI_TESTS_REPORT_DIR ?? 'playwright-report';

export default defineConfig({
  testDir: './tests',
  outputDir,
  // One JupyterLab, two cores shared with the rest of the machine: run tests one at a time.
  workers: 1,
  fullyParallel: false,
  timeout: 60_000,
  expect: { timeout: 20_000 },
  retries: 0,
  reporter: [['list'], ['html', { open: 'never', outputFolder: reportDir }]],
  use: {
    baseURL,
    headless: true,
    screenshot: 'on',
    trace: 'retain-on-failure',
    viewport: { width: 1280, height: 800 },
    launchOptions: {
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
    }
  },
  webServer: {
    command: server.command,
    cwd: server.cwd,
    env: server.env,
    url: server.ready,
    timeout: 60_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    gracefulShutdown: { signal: 'SIGTERM', timeout: 5_000 }
  }
});

import { expect, test } from '../fixtures';

test('a new Python 3 notebook runs a cell on ipykernel', async ({ lab: page }, testInfo) => {
  // A clean workspace opens on the launcher.
  const card = page.locator('.jp-LauncherCard[data-category="Notebook"]', {
    hasText: 'Python 3 (ipykernel)'
  });
  await card.click();

  const notebook = page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)');
  await expect(notebook.locator('.jp-Toolbar-kernelName')).toHaveText('Python 3 (ipykernel)');
  await expect(notebook.locator('.jp-Notebook-ExecutionIndicator')).toHaveAttribute(
    'data-status',
    'idle'
  );

  await notebook.locator('.jp-Cell .cm-content').first().click();
  await page.keyboard.type('print(6*7)');
  await page.keyboard.press('Shift+Enter');

  const output = notebook.locator('.jp-Cell').first().locator('.jp-OutputArea-output');
  await expect(output).toHaveText('42');
  await expect(notebook.locator('.jp-InputPrompt').first()).toHaveText('[1]:');

  await testInfo.attach('notebook', {
    body: await page.screenshot(),
    contentType: 'image/png'
  });
  await page.screenshot({ path: testInfo.outputPath('notebook.png') });
});

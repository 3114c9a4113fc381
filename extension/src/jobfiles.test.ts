import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isJobFile, jobName, resultPath } from './jobfiles';

describe('job files', () => {
  it('runs notebooks, Python and shell scripts only', () => {
    assert.deepEqual(['a.ipynb', 'b.py', 'c.sh', 'd.txt', 'e.ipynb.bak', 'py'].map(isJobFile), [
      true,
      true,
      true,
      false,
      false,
      false
    ]);
  });
  it('finds the executed notebook beside the one that ran', () => {
    assert.equal(resultPath('work/fit.ipynb'), 'work/fit.output.ipynb');
    assert.equal(resultPath('work/fit.py'), null);
  });
  it("lists a job under its file's name", () => {
    assert.equal(jobName('work/deep/fit.ipynb'), 'fit.ipynb');
    assert.equal(jobName('fit.py'), 'fit.py');
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatBytes,
  lastLine,
  MAX_REASON_LINE,
  outOfMemoryReason,
  REDACTED,
  redactSecrets,
  slurmMemoryKill
} from './reasons.js';

test('reasons: the last non-empty line, without colours, bounded', () => {
  assert.equal(
    lastLine(
      'Traceback (most recent call last):\n  File "<string>", line 1\nModuleNotFoundError: x\n\n  \n'
    ),
    'ModuleNotFoundError: x'
  );
  assert.equal(lastLine('\x1b[31mError:\x1b[0m disk full\r\n'), 'Error: disk full');
  // a closing line that only repeats the exit code (the agent's, the batch script's) is passed over
  assert.equal(lastLine('about to fail\njob exited with code 3\n'), 'about to fail');
  assert.equal(lastLine('no input\ninit container setup: exit code 2\n'), 'no input');
  assert.equal(lastLine(''), undefined);
  const long = lastLine(`${'word '.repeat(200)}\n`)!;
  assert.equal(long.length, MAX_REASON_LINE);
  assert.ok(long.endsWith('…'));
});

test('reasons: secrets are taken out, ordinary words are not', () => {
  const secret = 'k9J2-xQ_7vLmN0pRsTuVwXyZaBcDeFgHiJkLmNoPqRs';
  assert.equal(redactSecrets(`agent refused: ${secret}`), `agent refused: ${REDACTED}`);
  assert.equal(redactSecrets('short secret abc123', ['abc123']), `short secret ${REDACTED}`);
  assert.equal(
    redactSecrets('GET /api?token=abc&x=1 Authorization: Bearer xyz password="p w"'),
    `GET /api?token=${REDACTED}&x=1 Authorization: Bearer ${REDACTED} password="${REDACTED} w"`
  );
  assert.equal(
    redactSecrets('jupyter token 0123456789abcdef0123456789abcdef01234567').includes('0123'),
    false
  );
  for (const plain of [
    "ModuleNotFoundError: No module named 'torch'",
    'FileNotFoundError: /home/alice/data/run2024/input_files/calibration_v2.csv',
    'NameError: name very_long_snake_case_function_name_v2 is not defined',
    'invalid token for this request'
  ]) {
    assert.equal(redactSecrets(plain), plain);
  }
});

test('reasons: out of memory in words, with the limit Slurm printed', () => {
  assert.deepEqual(
    slurmMemoryKill(
      'slurmstepd-vm: error: StepId=7.batch exceeded memory limit (120700928 > 104857600), being killed\n'
    ),
    { limitBytes: 104857600 }
  );
  assert.deepEqual(slurmMemoryKill('slurmstepd: error: Exceeded job memory limit'), {});
  assert.equal(slurmMemoryKill('exit 1'), undefined);
  assert.equal(outOfMemoryReason(2 * 1024 ** 3), 'out of memory: the job used more than its 2 GiB');
  assert.equal(formatBytes(104857600), '100 MiB');
  assert.equal(formatBytes(1.5 * 1024 ** 3), '1.5 GiB');
  assert.equal(
    outOfMemoryReason(),
    'out of memory: the job used more than the memory it asked for'
  );
});

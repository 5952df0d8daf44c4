/** How a replica process fails to start: exit code 1 and one readable line, never a stack trace. */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { envWithoutChatConfig, freePort, REPLICA_ENTRY, runToExit, STACK_FRAME } from './helpers.js';

function nonEmptyLines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '');
}

describe('a replica refusing a bad configuration', () => {
  const cases: { variable: string; env: NodeJS.ProcessEnv }[] = [
    { variable: 'PORT', env: { PORT: 'abc' } },
    { variable: 'NODE_NUMBER', env: { NODE_NUMBER: 'x' } },
    { variable: 'REDIS_URL', env: { REDIS_URL: 'http://nope' } },
  ];

  for (const { variable, env } of cases) {
    test(`${Object.entries(env)
      .map(([name, value]) => `${name}=${value}`)
      .join(' ')}: exit 1, one line naming ${variable}`, async () => {
      // A valid free PORT unless PORT is the bad one: should the check be missing, the replica
      // would start (and be killed at the timeout) rather than clash with anything.
      const result = await runToExit(process.execPath, [REPLICA_ENTRY], {
        env: { ...envWithoutChatConfig(), PORT: String(await freePort()), ...env },
        timeoutMs: 5000,
      });
      assert.equal(result.code, 1, `exit code; stderr: ${result.stderr}`);
      const lines = nonEmptyLines(result.stderr);
      assert.equal(lines.length, 1, `stderr should be one line:\n${result.stderr}`);
      assert.match(lines[0]!, new RegExp(`\\b${variable}\\b`));
      assert.doesNotMatch(result.stderr, STACK_FRAME);
      assert.doesNotMatch(result.stdout, /listening/i);
    });
  }

  test('a bad REDIS_URL with a password: the password is not printed', async () => {
    const result = await runToExit(process.execPath, [REPLICA_ENTRY], {
      env: { ...envWithoutChatConfig(), REDIS_URL: 'http://admin:s3cret-pw@redis:6379' },
      timeoutMs: 5000,
    });
    assert.equal(result.code, 1);
    assert.doesNotMatch(result.stdout + result.stderr, /s3cret-pw/);
  });
});

describe('a replica whose port is taken', () => {
  let occupier: Server;
  let port: number;

  before(async () => {
    // Listening on all addresses, as the replica does, so the two really clash.
    occupier = createServer();
    await new Promise<void>((resolve) => occupier.listen(0, resolve));
    const address = occupier.address();
    assert.ok(address && typeof address === 'object');
    port = address.port;
  });
  after(() => new Promise<void>((resolve) => occupier.close(() => resolve())));

  test('exits 1 with a one-line reason and no stack trace', async () => {
    const result = await runToExit(process.execPath, [REPLICA_ENTRY], {
      env: { ...envWithoutChatConfig(), PORT: String(port), NODE_NUMBER: '5' },
      timeoutMs: 5000,
    });
    const output = result.stdout + result.stderr;
    assert.equal(result.code, 1, `exit code; output:\n${output}`);
    const reasons = nonEmptyLines(output).filter((line) => line.includes(String(port)) || /EADDRINUSE|in use/i.test(line));
    assert.equal(reasons.length, 1, `one line should say why:\n${output}`);
    assert.doesNotMatch(output, STACK_FRAME, 'the output holds a stack trace');
  });
});

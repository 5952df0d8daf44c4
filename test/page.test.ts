import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../server/config.js';
import { startChatServer, type RunningChatServer } from '../server/server.js';
import { io } from 'socket.io-client';
import type { ChatMessage } from '../shared/events.js';
import { EVENT_TIMEOUT_MS, getHealth, httpGetText, ListeningClient, sendMessage } from './helpers.js';

const logger = pino({ level: 'silent' });
/** The page's own script: client/chat.ts as tsc compiles it. */
const CHAT_SCRIPT = '/js/client/chat.js';

/** The text of the first `<tag ...>text</tag>` in `html`. */
function elementText(html: string, tag: string): string | undefined {
  return new RegExp(`<${tag}\\b[^>]*>([^<]*)</${tag}>`).exec(html)?.[1]?.trim();
}

function scriptSources(html: string): string[] {
  return [...html.matchAll(/<script\b[^>]*\bsrc="([^"]*)"/g)].map((match) => match[1]!);
}

describe('the chat page of a single replica (no Redis)', () => {
  let server: RunningChatServer;
  let baseUrl: string;

  before(async () => {
    server = await startChatServer({ ...loadConfig({}), port: 0, instance: '7' }, logger);
    baseUrl = `http://127.0.0.1:${server.port}`;
  });
  after(() => server?.close());

  test('title and heading name the instance', async () => {
    const page = await httpGetText(`${baseUrl}/`);
    assert.equal(page.status, 200);
    assert.match(page.contentType, /^text\/html/);
    assert.equal(elementText(page.body, 'title'), 'Instance #7');
    assert.equal(elementText(page.body, 'h1'), 'Instance #7');
  });

  test('the page loads Socket.IO, jQuery and the chat script from this server, and they answer', async () => {
    const sources = scriptSources((await httpGetText(`${baseUrl}/`)).body);
    const jquery = sources.find((src) => src.startsWith('/vendor/jquery/'));
    assert.ok(sources.includes('/socket.io/socket.io.js'), `scripts: ${sources.join(', ')}`);
    assert.ok(jquery, `no jQuery from /vendor/jquery/ among: ${sources.join(', ')}`);
    assert.ok(sources.includes(CHAT_SCRIPT), `scripts: ${sources.join(', ')}`);

    for (const src of ['/socket.io/socket.io.js', jquery, CHAT_SCRIPT]) {
      const script = await httpGetText(`${baseUrl}${src}`);
      assert.equal(script.status, 200, `GET ${src}`);
      assert.match(script.contentType, /javascript/, `GET ${src}`);
      assert.ok(script.body.length > 0, `GET ${src} is empty`);
    }
  });

  test('every module the chat script imports, directly or not, is served too', async () => {
    // No bundler: the browser fetches each relative `import ... from './x.js'` itself.
    const seen = new Set<string>();
    const pending = [CHAT_SCRIPT];
    for (let path = pending.pop(); path !== undefined; path = pending.pop()) {
      if (seen.has(path)) continue;
      seen.add(path);
      const script = await httpGetText(`${baseUrl}${path}`);
      assert.equal(script.status, 200, `GET ${path}`);
      assert.match(script.contentType, /javascript/, `GET ${path}`);
      for (const [, specifier] of script.body.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]/gm)) {
        assert.match(specifier!, /^\.\.?\//, `${path} imports ${specifier}, which a browser cannot resolve`);
        pending.push(new URL(specifier!, `http://page${path}`).pathname);
      }
    }
    assert.ok(seen.size > 1, `the chat script imports nothing: ${[...seen].join(', ')}`);
  });

  test('nothing is loaded from a CDN: the page works offline', async () => {
    const page = (await httpGetText(`${baseUrl}/`)).body;
    const external = [...page.matchAll(/\b(?:src|href)="((?:https?:)?\/\/[^"]*)"/g)].map((match) => match[1]);
    assert.deepEqual(external, []);
  });

  test('/healthz without Redis: 200, redis "none"', async () => {
    const health = await getHealth(baseUrl);
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { instance: '7', redis: 'none', connections: 0, draining: false });
  });

  test('history and catch-up work the same without Redis, from the in-memory log', async (t) => {
    const sender = await ListeningClient.connect(baseUrl);
    t.after(() => sender.close());
    const ids: string[] = [];
    for (const text of ['one', 'two', 'three']) {
      const result = await sendMessage(sender.socket, text);
      assert.ok(result !== 'no answer' && result.ok);
      ids.push(result.id);
    }
    const newcomer = await ListeningClient.connect(baseUrl);
    t.after(() => newcomer.close());
    assert.deepEqual(newcomer.ids().slice(-3), ids);

    const socket = io(baseUrl, { transports: ['websocket'], forceNew: true, reconnection: false });
    t.after(() => socket.close());
    const answer = await socket.timeout(EVENT_TIMEOUT_MS).emitWithAck('catch up', ids[0]);
    assert.ok(answer.ok && answer.complete && !answer.more);
    assert.deepEqual(
      answer.messages.map((message: ChatMessage) => message.id),
      ids.slice(1),
    );
  });
});

describe('a replica started without NODE_NUMBER', () => {
  let server: RunningChatServer;

  before(async () => {
    // The configuration an empty environment gives, on a port of the OS's choosing.
    server = await startChatServer({ ...loadConfig({}), port: 0 }, logger);
  });
  after(() => server?.close());

  test('renders Instance #N/A', async () => {
    const page = await httpGetText(`http://127.0.0.1:${server.port}/`);
    assert.equal(elementText(page.body, 'title'), 'Instance #N/A');
    assert.equal(elementText(page.body, 'h1'), 'Instance #N/A');
  });
});

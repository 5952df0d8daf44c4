import { fileURLToPath } from 'node:url';
/** What the specs share: the running stack, a page object for the chat, and distinct clients. */
import { test as base, expect, type Locator, type Page } from '@playwright/test';
import { startClientAddressProxy, type ClientAddressProxy } from './client-address-proxy.js';
import { stackInfo, type StackInfo } from './stack.js';

/** The page remembers the chosen name under this localStorage key (client/name.ts). */
const NAME_KEY = 'chat-name';

/** The Nth distinct client as nginx's ip_hash sees it: its own first three octets. */
export function clientAddress(n: number): string {
  return `127.0.${n}.1`;
}

/** The chat page as a user sees it. */
export class ChatPage {
  readonly heading: Locator;
  /** The status line: which replica holds the live connection, over which transport. */
  readonly connection: Locator;
  /** Messages from the log (not the join and leave notices), of every room the page is in. */
  readonly messages: Locator;
  /** The same, of the room being looked at only. */
  readonly shownMessages: Locator;
  /** The rooms panel's rows, one per room. */
  readonly rooms: Locator;
  readonly notices: Locator;
  /** Messages typed here that the server has not confirmed yet. */
  readonly outbox: Locator;
  readonly typing: Locator;
  /** The cluster panel's rows, one per live replica. */
  readonly instances: Locator;
  /** The online list's rows, one per person. */
  readonly people: Locator;
  readonly onlineCount: Locator;
  readonly nameDialog: Locator;
  /** Messages of any alert/confirm/prompt the page opened (each is dismissed). */
  readonly dialogs: string[] = [];

  constructor(readonly page: Page) {
    this.heading = page.getByRole('heading', { level: 1 });
    this.connection = page.locator('#connection');
    this.messages = page.locator('#messages li[data-id]');
    this.shownMessages = page.locator('#messages ul:not([hidden]) li[data-id]');
    this.rooms = page.locator('#rooms li');
    this.notices = page.locator('#messages li.notice');
    this.outbox = page.locator('#outbox li');
    this.typing = page.locator('#typing');
    this.instances = page.locator('#instances li');
    this.people = page.locator('#people li[data-name]');
    this.onlineCount = page.locator('#online-count');
    this.nameDialog = page.getByRole('dialog', { name: 'Choose a name' });
    page.on('dialog', (dialog) => {
      this.dialogs.push(dialog.message());
      void dialog.dismiss();
    });
  }

  /** Waits until the page is connected; returns the replica and transport it shows. */
  async connected(): Promise<{ instance: string; transport: string }> {
    await expect(this.connection).toHaveAttribute('data-state', 'connected');
    return {
      instance: (await this.connection.getAttribute('data-instance')) ?? '',
      transport: (await this.connection.getAttribute('data-transport')) ?? '',
    };
  }

  /** Types a message and presses Enter, as a user would. */
  async send(text: string): Promise<void> {
    const input = this.page.getByRole('textbox', { name: 'Message' });
    await input.fill(text);
    await input.press('Enter');
  }

  /** The list item whose text is exactly `text`. */
  message(text: string): Locator {
    return this.messages.filter({ has: this.page.getByText(text, { exact: true }) });
  }

  /** `name`'s row in the rooms panel. */
  room(name: string): Locator {
    return this.rooms.and(this.page.locator(`[data-room="${name}"]`));
  }

  /** `name`'s row in the online list. */
  person(name: string): Locator {
    return this.people.and(this.page.locator(`[data-name="${name}"]`));
  }

  /** Instance `number`'s row in the cluster panel. */
  instance(number: number | string): Locator {
    return this.instances.and(this.page.locator(`[data-instance="${number}"]`));
  }

  /** The unsent message whose text is exactly `text`. */
  unsent(text: string): Locator {
    return this.outbox.filter({ has: this.page.getByText(text, { exact: true }) });
  }

  /** Waits for `text` to show, labelled with the replica that accepted it. */
  async expectMessage(text: string, fromInstance: string): Promise<void> {
    const item = this.message(text);
    await expect(item).toHaveAttribute('data-instance', fromInstance);
    await expect(item).toContainText(`instance #${fromInstance}`);
  }
}

interface OpenChatOptions {
  url: string;
  /**
   * The name the page finds in localStorage, as if chosen on an earlier visit: a unique one unless
   * given; `null` for a first visit, which asks for one.
   */
  name?: string | null;
  /** Browser window size; the default is a desktop's. */
  viewport?: { width: number; height: number };
  /** Reach `url` from this loopback address, through a proxy of its own (a distinct client for ip_hash). */
  from?: string;
  /** Path and query, e.g. `/?transport=polling`. */
  path?: string;
  /** Runs before the page loads, to watch it from its first request. */
  beforeLoad?: (page: Page) => void;
}

export const test = base.extend<{ stack: StackInfo; openChat: (options: OpenChatOptions) => Promise<ChatPage> }>({
  // biome-ignore lint/correctness/noEmptyPattern: Playwright reads a fixture's dependencies from this pattern; it has none.
  stack: async ({}, use) => use(stackInfo()),

  /** Opens the chat in a browser context of its own; contexts and proxies close after the test. */
  openChat: async ({ browser }, use) => {
    const cleanups: (() => Promise<void>)[] = [];
    await use(async ({ url, from, path = '/', beforeLoad, name = uniqueText('Tester').replace(' ', '-'), viewport }) => {
      let proxy: ClientAddressProxy | undefined;
      if (from) {
        proxy = await startClientAddressProxy(from);
        cleanups.push(proxy.close);
      }
      const context = await browser.newContext({ ...(proxy ? { proxy: { server: proxy.url } } : {}), ...(viewport ? { viewport } : {}) });
      cleanups.unshift(() => context.close());
      if (name !== null) await context.addInitScript(([key, value]) => localStorage.setItem(key, value), [NAME_KEY, name] as const);
      const page = await context.newPage();
      const chat = new ChatPage(page);
      beforeLoad?.(page);
      await page.goto(new URL(path, url).href);
      return chat;
    });
    for (const cleanup of cleanups) await cleanup();
  },
});

export { expect };

/**
 * Where a picture for the README goes: docs/screenshots/ with `npm run screenshots`
 * (UPDATE_SCREENSHOTS=1); otherwise e2e/results/, so that a test run leaves the tracked ones alone.
 */
export function screenshotPath(file: string): string {
  const folder = process.env.UPDATE_SCREENSHOTS === '1' ? '../docs/screenshots/' : './results/screenshots/';
  return fileURLToPath(new URL(folder + file, import.meta.url));
}

/** A message text no other test sends. */
export function uniqueText(label: string): string {
  return `${label} ${Math.random().toString(36).slice(2, 8)}`;
}

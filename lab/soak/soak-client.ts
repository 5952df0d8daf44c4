/**
 * One person in the soak: connected through nginx from a source address of its own (nginx's ip_hash
 * picks the replica from it), reconnecting and catching up as the page does, and sending a message
 * every few seconds through the page's outbox. What it receives goes
 * straight into the DeliveryLedger; it keeps no timeline.
 */
import { Agent } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { io } from 'socket.io-client';
import { CatchUp } from '../../client/catch-up.js';
import { EVENT_TIMEOUT_MS, outboxSender, withTimeout, type ChatSocket } from '../../test/helpers.js';
import { soakText, type DeliveryLedger } from './soak-deliveries.js';

/** How long after the chatting ends a message still unacknowledged keeps being retried. */
const RETRY_GRACE_MS = 10_000;

export class SoakClient {
  /** The replica that welcomed it first. */
  instance = '';
  readonly #catchUp: CatchUp;
  /** The page's outbox: each message under one key, until logged or refused for good. */
  readonly #send: ReturnType<typeof outboxSender>;

  private constructor(
    readonly number: number,
    private readonly socket: ChatSocket,
    private readonly ledger: DeliveryLedger,
  ) {
    this.#send = outboxSender(socket);
    this.#catchUp = new CatchUp({
      request: (afterId) => socket.timeout(EVENT_TIMEOUT_MS).emitWithAck('catch up', afterId),
      caughtUp: (messages) => {
        for (const message of messages) ledger.delivered(number, message, 'caught up');
        ledger.joined(number);
      },
      missing: () => ledger.missing(),
    });
    socket.on('welcome', ({ instance }) => {
      if (this.instance) ledger.reconnected(number);
      else this.instance = instance;
      this.#catchUp.connected();
    });
    socket.on('disconnect', () => this.#catchUp.disconnected());
    socket.on('position', ({ id }) => this.#catchUp.position(id)); // the soak chats in the default room only
    socket.on('chat message', (message) => {
      ledger.delivered(number, message, 'live');
      this.#catchUp.live(message);
    });
  }

  /** Connected, welcomed and caught up. */
  static async connect(url: string, number: number, localAddress: string, ledger: DeliveryLedger): Promise<SoakClient> {
    const socket: ChatSocket = io(url, {
      transports: ['websocket'],
      reconnectionDelayMax: 2000,
      forceNew: true,
      agent: new Agent({ localAddress, keepAlive: true }),
      auth: { name: `soak-${number}` },
      // `agent` reaches `ws`, but socket.io-client's option types say string | boolean.
    } as unknown as Parameters<typeof io>[1]);
    const client = new SoakClient(number, socket, ledger);
    const ready = new Promise<void>((resolve, reject) => {
      const joined = setInterval(() => {
        if (client.#catchUp.heldThrough === null) return;
        clearInterval(joined);
        resolve();
      }, 20);
      socket.once('connect_error', (err) => {
        clearInterval(joined);
        reject(err);
      });
    });
    try {
      await withTimeout(ready, EVENT_TIMEOUT_MS, `client ${number} (${localAddress}) to connect`);
      return client;
    } catch (err) {
      socket.close();
      throw err;
    }
  }

  /** Sends a message every `intervalMs` (± `jitterMs`), starting at a random moment, until `until`. */
  async chat(options: { until: number; intervalMs: number; jitterMs: number }): Promise<void> {
    let nextAt = Date.now() + Math.random() * options.intervalMs;
    while (nextAt < options.until) {
      await delay(Math.max(0, nextAt - Date.now()));
      await this.#sendOne(options.until + RETRY_GRACE_MS);
      nextAt += options.intervalMs + (Math.random() * 2 - 1) * options.jitterMs;
    }
  }

  close(): void {
    this.socket.close();
  }

  /** One message through the outbox, waited for until acknowledged, refused, or `giveUpAt`. */
  async #sendOne(giveUpAt: number): Promise<void> {
    const seq = this.ledger.nextMessage();
    const outcome = await Promise.race([this.#send(soakText(seq, this.number)), delay(Math.max(0, giveUpAt - Date.now()), 'unanswered' as const)]);
    if (outcome === 'unanswered') return; // counted as unanswered
    if (outcome.ok) this.ledger.acknowledged(seq, outcome.id);
    else this.ledger.refused();
  }
}

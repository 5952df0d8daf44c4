/**
 * The load generators' client: a bare WebSocket speaking just enough Engine.IO v4 and Socket.IO v5
 * to be a chat user: the open packet, a connect (`40`, with the handshake's auth), the replica
 * its `welcome` names, pongs to the server's pings, events with an acknowledgement, and, of the
 * frames it receives, only a look at the start of each for a benchmark message's id. A full `socket.io-client` parses every frame
 * into objects and costs ~100 KB; with a thousand of them, the generators, not the server, were
 * what the benchmark measured. The latency probes stay full clients (lab/bench/bench.ts).
 */
import { WebSocket } from 'ws';

/** `42["chat message",{…"text":"bench <id> <sent at>"…}]`: a delivery, and where its id starts. */
const DELIVERY_PREFIX = Buffer.from('42["chat message",');
const BENCH_TEXT = Buffer.from('"text":"bench ');
const SPACE = 0x20;
const WELCOME_PREFIX = Buffer.from('42["welcome",');

export interface RawClientEvents {
  /** A benchmark message (shared protocol: `bench <worker>:<seq> …`) arrived. */
  delivery(id: string): void;
  /** The connection ended after it was established. */
  closed(reason: string): void;
}

export class RawClient {
  private readonly socket: WebSocket;
  private nextAck = 0;
  private readonly acks = new Map<number, (ok: boolean) => void>();
  /** The replica holding this connection, as its `welcome` (sent right after the connect) says. */
  readonly instance: Promise<string>;
  private welcomed: (instance: string) => void = () => {};

  private constructor(socket: WebSocket, events: RawClientEvents) {
    this.socket = socket;
    this.instance = new Promise((resolve) => {
      this.welcomed = resolve;
    });
    socket.on('message', (data: Buffer) => this.onFrame(data, events));
    socket.once('close', (code) => {
      for (const ack of this.acks.values()) ack(false);
      this.acks.clear();
      events.closed(`close ${code}`);
    });
  }

  /**
   * Opens a WebSocket to `url` (http://host:port) from `localAddress` and completes the Socket.IO
   * handshake with `auth`; rejects if the server refuses it or nothing is settled within `timeoutMs`.
   */
  static connect(url: string, options: { localAddress: string; auth?: object; timeoutMs: number; events: RawClientEvents }): Promise<RawClient> {
    const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`, {
      localAddress: options.localAddress,
      perMessageDeflate: false,
    });
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        socket.terminate();
        reject(new Error(why));
      };
      const timer = setTimeout(() => fail('handshake timed out'), options.timeoutMs);
      socket.once('error', (err) => fail(err.message));
      socket.once('close', (code) => fail(`closed during the handshake (${code})`));
      const onHandshake = (data: Buffer) => {
        const frame = data.toString();
        if (frame.startsWith('0')) socket.send(options.auth ? `40${JSON.stringify(options.auth)}` : '40');
        else if (frame.startsWith('40')) {
          clearTimeout(timer);
          socket.off('message', onHandshake);
          socket.removeAllListeners('close');
          socket.removeAllListeners('error');
          socket.on('error', () => {}); // the close that follows says it
          resolve(new RawClient(socket, options.events));
        } else if (frame.startsWith('44')) fail(`refused: ${frame.slice(2)}`);
      };
      socket.on('message', onHandshake);
    });
  }

  /** Emits `event` with `payload` and resolves with whether the acknowledgement said `ok: true`. */
  emitWithAck(event: string, payload: unknown, timeoutMs: number): Promise<boolean> {
    const id = this.nextAck++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.acks.delete(id);
        resolve(false);
      }, timeoutMs);
      this.acks.set(id, (ok) => {
        clearTimeout(timer);
        resolve(ok);
      });
      this.socket.send(`42${id}${JSON.stringify([event, payload])}`);
    });
  }

  close(): void {
    this.socket.close();
  }

  private onFrame(data: Buffer, events: RawClientEvents): void {
    const type = data[0];
    if (type === 0x32 /* 2: ping */ && data.length === 1) this.socket.send('3');
    else if (type === 0x34 /* 4: message */ && data[1] === 0x32 /* 2: event */) {
      if (data.subarray(0, WELCOME_PREFIX.length).equals(WELCOME_PREFIX)) {
        const [, welcome] = JSON.parse(data.toString('utf8', 2)) as [string, { instance: string }];
        this.welcomed(welcome.instance);
      }
      if (!data.subarray(0, DELIVERY_PREFIX.length).equals(DELIVERY_PREFIX)) return;
      const at = data.indexOf(BENCH_TEXT, DELIVERY_PREFIX.length);
      if (at < 0) return;
      const start = at + BENCH_TEXT.length;
      events.delivery(data.toString('latin1', start, data.indexOf(SPACE, start)));
    } else if (type === 0x34 && data[1] === 0x33 /* 3: ack */) {
      const open = data.indexOf(0x5b /* [ */);
      const id = Number(data.toString('latin1', 2, open));
      const ack = this.acks.get(id);
      this.acks.delete(id);
      ack?.(data.indexOf('"ok":true', open) > 0);
    }
  }
}

/**
 * server/write-batching.ts: how many writes reach a connection's TCP socket, counted on the socket
 * itself (its `_write` and `_writev`, each one system call), with and without the batching, on a
 * real Socket.IO server and a bare WebSocket client.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo, Socket as TcpSocket } from 'node:net';
import { after, describe, test } from 'node:test';
import { Server } from 'socket.io';
import { WebSocket } from 'ws';
import { batchWrites } from '../server/write-batching.js';
import { withTimeout } from './helpers.js';

interface Counted {
  /** Writes to the TCP socket of the one connection so far. */
  writes(): number;
  /** …of which those before the client had the open packet. */
  opened: number;
  /** Once the client has had `count` frames. */
  frames(count: number): Promise<void>;
  /** Three events from the server, in one turn, once connected. */
  emitThree(): void;
}

const cleanups: (() => void)[] = [];
after(() => {
  for (const cleanup of cleanups) cleanup();
});

/** A Socket.IO server (with the batching or not) and one bare WebSocket client, connected. */
async function connectCounted(batching: boolean): Promise<Counted> {
  const httpServer = createServer();
  let writes = 0;
  // Registered before Socket.IO's own listener: the count starts before the first write.
  httpServer.on('upgrade', (_request, socket: TcpSocket) => {
    const { _write, _writev } = socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => void>;
    Object.assign(socket, {
      _write: (...args: unknown[]) => {
        writes++;
        return _write.apply(socket, args);
      },
      _writev: (...args: unknown[]) => {
        writes++;
        return _writev.apply(socket, args);
      },
    });
  });
  const io = new Server(httpServer);
  if (batching) batchWrites(io.engine);
  let connected: (emitThree: () => void) => void;
  const serverSide = new Promise<() => void>((resolve) => (connected = resolve));
  io.on('connection', (socket) =>
    connected(() => {
      for (const event of ['one', 'two', 'three']) socket.emit(event);
    }),
  );
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));

  const client = new WebSocket(`ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}/socket.io/?EIO=4&transport=websocket`, {
    perMessageDeflate: false,
  });
  cleanups.push(() => {
    client.terminate();
    void io.close();
  });
  const received: string[] = [];
  const waiting: { count: number; resolve(): void }[] = [];
  client.on('message', (data) => {
    received.push(data.toString());
    for (const wait of waiting.filter(({ count }) => received.length >= count)) wait.resolve();
  });
  const frames = (count: number) =>
    withTimeout(new Promise<void>((resolve) => (received.length >= count ? resolve() : waiting.push({ count, resolve }))), 5000, `frame ${count}`);
  await frames(1);
  assert.match(received[0]!, /^0\{"sid"/);
  const opened = writes;
  client.send('40');
  await frames(2);
  assert.match(received[1]!, /^40/);
  return { writes: () => writes, opened, frames, emitThree: await serverSide };
}

describe('write batching', () => {
  test('the 101 response and the open packet are one write; a queue of packets is one write', async () => {
    const counted = await connectCounted(true);
    assert.equal(counted.opened, 1, 'the handshake: the 101 response and the open packet in one write');
    const before = counted.writes();
    counted.emitThree();
    await counted.frames(5);
    // The first packet goes out at once; the two queued behind its write go out together.
    assert.equal(counted.writes() - before, 2);
  });

  test('negative control: without it, each of them is a write of its own', async () => {
    const counted = await connectCounted(false);
    assert.equal(counted.opened, 2);
    const before = counted.writes();
    counted.emitThree();
    await counted.frames(5);
    assert.equal(counted.writes() - before, 3);
  });
});

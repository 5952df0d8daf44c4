/**
 * A forward proxy whose outgoing connections leave from one loopback address.
 *
 * nginx's ip_hash keys on the first three octets of the client's IPv4 address, so every browser on
 * one machine is the same client (127.0.0.x). Giving each browser context its own proxy, bound to
 * 127.0.N.1, makes the contexts distinct clients, as different users' machines would be. Nothing in
 * nginx.conf has to trust a client-supplied header for it.
 */
import { createServer, request } from 'node:http';
import { connect, type Socket } from 'node:net';

export interface ClientAddressProxy {
  /** For `browser.newContext({ proxy: { server: url } })`. */
  url: string;
  close(): Promise<void>;
}

export async function startClientAddressProxy(localAddress: string): Promise<ClientAddressProxy> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };

  // Plain HTTP: the request line carries the absolute URL; forward it from `localAddress`.
  const server = createServer((clientRequest, clientResponse) => {
    const target = new URL(clientRequest.url ?? '');
    const upstreamRequest = request(
      {
        host: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: clientRequest.method,
        headers: clientRequest.headers,
        localAddress,
      },
      (upstreamResponse) => {
        clientResponse.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
        upstreamResponse.pipe(clientResponse);
      },
    );
    upstreamRequest.once('error', () => clientResponse.destroy());
    clientRequest.pipe(upstreamRequest);
  });

  // CONNECT host:port opens a tunnel: Chromium sends WebSockets through a proxy this way.
  server.on('connect', (tunnelRequest, clientSocket: Socket, head: Buffer) => {
    const target = new URL(`http://${tunnelRequest.url}`);
    const upstream = connect({ host: target.hostname, port: Number(target.port), localAddress }, () => {
      clientSocket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(clientSocket).pipe(upstream);
    });
    track(upstream);
    track(clientSocket);
    upstream.once('error', () => clientSocket.destroy());
    clientSocket.once('error', () => upstream.destroy());
  });
  server.on('connection', track);

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('proxy has no address');

  return {
    url: `http://127.0.0.1:${address.port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

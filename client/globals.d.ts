// Globals set by the classic scripts views/index.ejs loads before client/chat.ts.
// ($ and jQuery are declared by @types/jquery.)
import type { io as socketIoClient } from 'socket.io-client';

declare global {
  const io: typeof socketIoClient;
}

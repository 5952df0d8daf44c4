/**
 * Who is online, who is in each room, and which replicas are alive, cluster-wide.
 *
 * A per-process counter ("N users online") is wrong as soon as there are two processes. Instead,
 * every second each replica publishes a report of itself (its number, uptime, connection count and
 * the names connected to it) that expires after a few seconds, and reads everyone's reports. So all
 * replicas compute the same list from the same data, and a replica that dies without a word (SIGKILL)
 * drops out when its last report expires. This is the pattern of the Socket.IO how-to "count
 * connected users", with the reports in Redis (server/redis/redis-presence.ts), or in memory for a single
 * node.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { DEFAULT_ROOM, NOTICE_CROWD_LIMIT, PRESENCE_LIST_LIMIT, type ClusterStatus, type ListedPerson, type Presence } from '../../shared/events.js';
import type { ChatServer } from './chat.js';
import type { ChatMetrics } from '../metrics.js';
import { chatRoomsAmong, socketRoom } from './rooms.js';

/** How presence keeps time (server/config.ts: PRESENCE_INTERVAL_MS, PRESENCE_GRACE_MS, PRESENCE_CROWD_SPACING_MS). */
export interface PresenceTimings {
  /** How often each replica reports itself and reads the others. */
  intervalMs: number;
  /** A person who leaves and is back within this (a failover, a reload) neither left nor joined. */
  graceMs: number;
  /**
   * In a crowd (above NOTICE_CROWD_LIMIT people), the list and the panel change with nearly every
   * arrival, and each change is a packet of a few KB to every client: at 5,000 clients, four a
   * second were most of the traffic of a mass connect. So in a crowd they go out at most this often,
   * and the reports, thousands of names, are read no more often than that either. A newcomer to a
   * crowd gets the count and the panel at once, without the names, which were most of the bytes it
   * was sent (3 KB each, to every one of a mass connect's newcomers): the next update brings them.
   */
  crowdSpacingMs: number;
  /**
   * …and while a replica takes more new connections a second than this (a reconnect storm after a
   * replica died, a mass connect), a crowd's update waits, at most STORM_MAX_DEFERRAL spacings: the
   * list would be out of date before it reached everyone, and writing it to thousands of clients
   * takes the CPU that the newcomers' handshakes need.
   */
  stormArrivalsPerSecond: number;
}
/** How long a report counts, in report intervals: a replica silent this long is gone. */
const REPORT_LIFETIME_INTERVALS = 5;
/** After a local connect or disconnect, the next update comes this soon… */
const UPDATE_SOON_MS = 50;
/** …but never sooner than this after the previous one: a thousand arrivals are one update, not a thousand. */
const MIN_UPDATE_SPACING_MS = 250;
/** However long a storm of arrivals lasts, a crowd hears how big it is at least once in this many spacings. */
export const STORM_MAX_DEFERRAL = 4;

/** What one replica says about itself. */
export interface ReplicaReport {
  /** Unique per process: a restarted replica is a new report, not the old one's continuation. */
  id: string;
  instance: string;
  since: number;
  url?: string;
  connections: number;
  /** The names connected to this replica, each with its number of connections (tabs). */
  people: Record<string, number>;
  /** For each room with a member on this replica, the names in it here; not DEFAULT_ROOM, which everyone is in (`people`). */
  rooms: Record<string, string[]>;
}

export interface PresenceStore {
  /** Publishes `report`, valid for `ttlMs` unless published again (often the same object again: nothing changed, and only its expiry is renewed). */
  publish(report: ReplicaReport, ttlMs: number): Promise<void>;
  /** Every report still valid. */
  readAll(): Promise<ReplicaReport[]>;
  /** Removes a report at once (a replica shutting down cleanly). */
  withdraw(id: string): Promise<void>;
}

/** The store of a single node: its own report, in memory. */
export function createMemoryPresenceStore(): PresenceStore {
  const reports = new Map<string, ReplicaReport>();
  return {
    // One process: its own report is current as long as it runs.
    publish: async (report) => void reports.set(report.id, report),
    readAll: async () => [...reports.values()],
    withdraw: async (id) => void reports.delete(id),
  };
}

/**
 * One report per instance number: the newest process's. After a replica is killed and started
 * again, both reports exist until the old one expires; the old process is dead.
 */
function newestPerInstance(reports: readonly ReplicaReport[]): ReplicaReport[] {
  const newest = new Map<string, ReplicaReport>();
  for (const report of reports) {
    const known = newest.get(report.instance);
    if (!known || report.since > known.since) newest.set(report.instance, report);
  }
  return [...newest.values()];
}

const byInstanceNumber = (a: { instance: string }, b: { instance: string }) => Number(a.instance) - Number(b.instance) || a.instance.localeCompare(b.instance);

export function clusterStatusOf(reports: readonly ReplicaReport[]): ClusterStatus {
  return {
    instances: newestPerInstance(reports)
      .map(({ instance, connections, since, url }) => ({ instance, connections, since, ...(url ? { url } : {}) }))
      .sort(byInstanceNumber),
  };
}

/** Everyone online (`room` undefined), or everyone in `room`. */
export function presenceOf(reports: readonly ReplicaReport[], room?: string): Presence {
  const instancesByName = new Map<string, string[]>();
  for (const report of newestPerInstance(reports).sort(byInstanceNumber)) {
    for (const name of room === undefined ? Object.keys(report.people) : (report.rooms[room] ?? [])) {
      instancesByName.set(name, [...(instancesByName.get(name) ?? []), report.instance]);
    }
  }
  const names = [...instancesByName.keys()].sort((a, b) => a.localeCompare(b, 'en') || (a < b ? -1 : 1));
  return { count: names.length, people: names.slice(0, PRESENCE_LIST_LIMIT).map((name): ListedPerson => [name, ...instancesByName.get(name)!]) };
}

/**
 * Turns successive sets of names into "joined" and "left" announcements. A name that goes missing
 * is announced as gone only after `graceMs` without it; if it is back sooner (its tab
 * reconnected to another replica, or reloaded), nothing is announced. The first set only sets the
 * scene: a replica that starts up does not announce everyone as new.
 */
export class JoinsAndLeaves {
  /** Everyone announced as present, with the time they went missing, if they have. */
  readonly #present = new Map<string, number | undefined>();
  #started = false;

  constructor(private readonly graceMs: number) {}

  update(names: ReadonlySet<string>, now: number): { joined: string[]; left: string[] } {
    const joined: string[] = [];
    const left: string[] = [];
    for (const name of names) {
      if (this.#started && !this.#present.has(name)) joined.push(name);
      this.#present.set(name, undefined);
    }
    for (const [name, missingSince] of this.#present) {
      if (names.has(name)) continue;
      if (missingSince === undefined) this.#present.set(name, now);
      else if (now - missingSince >= this.graceMs) {
        this.#present.delete(name);
        left.push(name);
      }
    }
    this.#started = true;
    return { joined, left };
  }
}

/**
 * Runs this replica's part: report and read every `timings.intervalMs` (and soon after any local
 * connect or disconnect), and tell this replica's own clients what changed. Every replica does the
 * same from the same reports, so each client hears it once, from its own replica.
 */
export function startPresence(options: {
  io: ChatServer;
  store: PresenceStore;
  instance: string;
  url: string | undefined;
  logger: Logger;
  metrics: ChatMetrics;
  timings: PresenceTimings;
  signal: AbortSignal;
}): { withdraw(): Promise<void> } {
  const { io, store, instance, url, logger, metrics, timings, signal } = options;
  const id = randomUUID();
  const since = Date.now();
  /** Who joined and left, followed outside a crowd only. */
  let joinsAndLeaves: JoinsAndLeaves | undefined;
  let presence: (Presence & ClusterStatus) | undefined;
  /** The same without the names: what a newcomer to a crowd gets (PresenceTimings.crowdSpacingMs). */
  let unnamed: (Presence & ClusterStatus) | undefined;
  /** A newcomer got `unnamed`: the next read sends the list even if it has not changed. */
  let namesOwed = false;
  /** The last `here` sent to this replica's members of each room. */
  const here = new Map<string, Presence>();
  let busy = false;
  let soon: NodeJS.Timeout | undefined;
  /** Whether the last read found a crowd. */
  let crowd = false;
  let lastTickAt = 0;
  /** When the reports were last read: in a crowd, no sooner than crowdSpacingMs after that. */
  let lastReadAt = Number.NEGATIVE_INFINITY;
  /** Connections accepted here since the last tick, which came at `lastTickAt`. */
  let arrivals = 0;
  /** This replica's report, made again only after a connection, a disconnection, a join or a leave. */
  let report: ReplicaReport | undefined;

  function ownReport(): ReplicaReport {
    const people: Record<string, number> = {};
    // Sets: a crowd of thousands in one room must not cost thousands squared.
    const namesByRoom = new Map<string, Set<string>>();
    for (const socket of io.of('/').sockets.values()) {
      people[socket.data.name] = (people[socket.data.name] ?? 0) + 1;
      for (const room of chatRoomsAmong(socket.rooms)) {
        if (room === DEFAULT_ROOM) continue;
        const names = namesByRoom.get(room) ?? new Set<string>();
        namesByRoom.set(room, names.add(socket.data.name));
      }
    }
    const rooms = Object.fromEntries([...namesByRoom].map(([room, names]) => [room, [...names]]));
    return { id, instance, since, ...(url ? { url } : {}), connections: io.of('/').sockets.size, people, rooms };
  }

  async function tick(): Promise<void> {
    if (busy || signal.aborted) return;
    busy = true;
    const arrivalsPerSecond = (arrivals * 1000) / (performance.now() - lastTickAt);
    arrivals = 0;
    lastTickAt = performance.now();
    try {
      report ??= ownReport();
      await store.publish(report, REPORT_LIFETIME_INTERVALS * timings.intervalMs);
      // In a crowd nothing read would go out sooner (PresenceTimings.crowdSpacingMs), nor during a
      // storm of arrivals (PresenceTimings.stormArrivalsPerSecond).
      const storm = crowd && arrivalsPerSecond > timings.stormArrivalsPerSecond;
      if (crowd && performance.now() - lastReadAt < (storm ? STORM_MAX_DEFERRAL : 1) * timings.crowdSpacingMs) return;
      lastReadAt = performance.now();
      const reports = await store.readAll();

      const alive = newestPerInstance(reports);
      const names = new Set(alive.flatMap((report) => Object.keys(report.people)));
      metrics.presenceRead(alive.length, names.size);
      crowd = names.size > NOTICE_CROWD_LIMIT;
      // People and replicas in one packet: one write to each client, not two.
      const nextPresence = { ...presenceOf(reports), ...clusterStatusOf(reports) };
      if (namesOwed || JSON.stringify(nextPresence) !== JSON.stringify(presence)) {
        presence = nextPresence;
        unnamed = { ...presence, people: [] };
        namesOwed = false;
        io.local.emit('presence', presence);
      }
      const localRooms = chatRoomsAmong(io.of('/').adapter.rooms.keys()).filter((room) => room !== DEFAULT_ROOM);
      for (const room of here.keys()) if (!localRooms.includes(room)) here.delete(room);
      for (const room of localRooms) {
        const nextHere = presenceOf(reports, room);
        if (JSON.stringify(nextHere) === JSON.stringify(here.get(room))) continue;
        here.set(room, nextHere);
        io.local.to(socketRoom(room)).emit('here', { room, ...nextHere });
      }

      // In a crowd nobody is announced, nor followed: thousands of names at every read, for nothing.
      // Once it thins out, who is there sets the scene again, as at a replica's start.
      if (crowd) joinsAndLeaves = undefined;
      else {
        joinsAndLeaves ??= new JoinsAndLeaves(timings.graceMs);
        const { joined, left } = joinsAndLeaves.update(names, Date.now());
        for (const name of joined) io.local.emit('joined', { name });
        for (const name of left) io.local.emit('left', { name });
      }
    } catch (err) {
      // Redis unavailable: the last list stays up; /healthz and the connection errors say why.
      metrics.presenceFailed();
      logger.debug({ err }, 'presence: %s', (err as Error).message);
    } finally {
      busy = false;
    }
  }

  /**
   * A local connect or disconnect: update soon, so a new tab sees itself at once. Not in a crowd,
   * whose updates wait for the spacing anyway: there the report of every second is enough, and the
   * reads of thousands of names four times a second slowed a mass connect (6,000 clients: 6.6 s
   * with them, 5.1 without, in the bench's setup).
   */
  function tickSoon(): void {
    if (crowd) return;
    soon ??= setTimeout(
      () => {
        soon = undefined;
        void tick();
      },
      Math.max(UPDATE_SOON_MS, lastTickAt + MIN_UPDATE_SPACING_MS - performance.now()),
    );
  }

  /** Who is here changed: a new report, soon. */
  function changed(): void {
    report = undefined;
    tickSoon();
  }

  io.on('connection', (socket) => {
    if (crowd && unnamed) {
      socket.emit('presence', unnamed);
      namesOwed = true;
    } else if (presence) socket.emit('presence', presence);
    arrivals += 1;
  });
  // Every change of who is here passes through the adapter, connections and disconnections too: a
  // socket joins the room of its own id as it connects, and leaves every room as it disconnects.
  // Whoever enters a room hears at once who was there (the update that adds them follows). Who
  // is in DEFAULT_ROOM is who is online: `presence` says it, and `here` is not sent for it.
  io.of('/').adapter.on('join-room', (socketRoomName: string, socketId: string) => {
    const [room] = chatRoomsAmong([socketRoomName]);
    const known = room === undefined ? undefined : here.get(room);
    if (known)
      io.of('/')
        .sockets.get(socketId)
        ?.emit('here', { room: room!, ...known });
    changed();
  });
  io.of('/').adapter.on('leave-room', changed);
  const timer = setInterval(() => void tick(), timings.intervalMs);
  signal.addEventListener('abort', () => {
    clearInterval(timer);
    clearTimeout(soon);
  });
  void tick();

  return { withdraw: () => store.withdraw(id) };
}

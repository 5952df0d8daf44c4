/**
 * People and the cluster (server/chat/presence.ts): names, who is online, join and leave, typing, and
 * the cluster panel's data, cluster-wide. First the rules on their own, then three real replicas
 * on a real Redis.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, test, type TestContext } from 'node:test';
import { createClient } from 'redis';
import { io } from 'socket.io-client';
import type { ChildService } from '../lab/cluster/child-process.js';
import { DEFAULT_ROOM, NOTICE_CROWD_LIMIT, PRESENCE_LIST_LIMIT, type HandshakeRefusal, type ListedPerson, type Presence } from '../shared/events.js';
import { clusterStatusOf, JoinsAndLeaves, presenceOf, type ReplicaReport } from '../server/chat/presence.js';
import {
  EVENT_TIMEOUT_MS,
  freePort,
  ListeningClient,
  makeTempDir,
  WITHOUT_RATE_LIMIT,
  pollUntil,
  sendMessage,
  startRedis,
  startReplica,
  withTimeout,
} from './helpers.js';

/** The grace period of the replicas below (PRESENCE_GRACE_MS), and of the rules on their own. */
const JOIN_LEAVE_GRACE_MS = 5000;
/** The crowd's update spacing (PRESENCE_CROWD_SPACING_MS), shorter than production's 5 s. */
const CROWD_UPDATE_SPACING_MS = 2000;
/** The grace period of the replica whose crowd thins out: short, since the test waits it out. */
const THINNING_GRACE_MS = 2000;

function report(overrides: Partial<ReplicaReport> & { instance: string }): ReplicaReport {
  return { id: `id-${overrides.instance}`, since: 1000, connections: 0, people: {}, rooms: {}, ...overrides };
}

describe('JoinsAndLeaves', () => {
  test('the first set of names only sets the scene', () => {
    assert.deepEqual(new JoinsAndLeaves(JOIN_LEAVE_GRACE_MS).update(new Set(['Ada', 'Bob']), 0), { joined: [], left: [] });
  });

  test('a new name joins; a name missing for the whole grace period leaves', () => {
    const tracker = new JoinsAndLeaves(JOIN_LEAVE_GRACE_MS);
    tracker.update(new Set(['Ada']), 0);
    assert.deepEqual(tracker.update(new Set(['Ada', 'Bob']), 1000), { joined: ['Bob'], left: [] });
    assert.deepEqual(tracker.update(new Set(['Bob']), 2000), { joined: [], left: [] }, 'Ada just went missing');
    assert.deepEqual(tracker.update(new Set(['Bob']), 2000 + JOIN_LEAVE_GRACE_MS - 1), { joined: [], left: [] });
    assert.deepEqual(tracker.update(new Set(['Bob']), 2000 + JOIN_LEAVE_GRACE_MS), { joined: [], left: ['Ada'] });
    assert.deepEqual(tracker.update(new Set(['Bob']), 10 * JOIN_LEAVE_GRACE_MS), { joined: [], left: [] }, 'announced once');
  });

  test('back within the grace period (a failover, a reload): neither left nor joined', () => {
    const tracker = new JoinsAndLeaves(JOIN_LEAVE_GRACE_MS);
    tracker.update(new Set(['Ada']), 0);
    assert.deepEqual(tracker.update(new Set(), 1000), { joined: [], left: [] });
    assert.deepEqual(tracker.update(new Set(['Ada']), 1000 + JOIN_LEAVE_GRACE_MS - 1), { joined: [], left: [] });
    assert.deepEqual(tracker.update(new Set(['Ada']), 1000 + 3 * JOIN_LEAVE_GRACE_MS), { joined: [], left: [] });
  });
});

describe('presenceOf and clusterStatusOf', () => {
  const reports = [
    report({ instance: '3', connections: 2, people: { Bob: 1, ada: 1 }, url: 'http://localhost:8083' }),
    report({ instance: '1', connections: 3, people: { Bob: 2, Émile: 1 } }),
    report({ instance: '10', connections: 0 }),
  ];

  test('a person is a name: listed once, with every instance it is on, sorted by name', () => {
    assert.deepEqual(presenceOf(reports), {
      count: 3,
      people: [
        ['ada', '3'],
        ['Bob', '1', '3'],
        ['Émile', '1'],
      ],
    });
  });

  test(`at most ${PRESENCE_LIST_LIMIT} names are listed, the first by name wherever they are in the reports, but all are counted`, () => {
    const name = (i: number) => `guest ${String(i).padStart(4, '0')}`;
    const total = 10 * PRESENCE_LIST_LIMIT;
    // Reversed, then spread over two replicas: the first names by order come last.
    const names = Array.from({ length: total }, (_, i) => name(total - 1 - i));
    const presence = presenceOf([
      report({ instance: '1', people: Object.fromEntries(names.filter((_, i) => i % 2 === 0).map((n) => [n, 1])) }),
      report({ instance: '2', people: Object.fromEntries(names.filter((_, i) => i % 2 === 1).map((n) => [n, 1])) }),
    ]);
    assert.equal(presence.count, total);
    assert.deepEqual(
      presence.people.map(([name]) => name),
      Array.from({ length: PRESENCE_LIST_LIMIT }, (_, i) => name(i)),
    );
  });

  test('instances in numeric order, with their counts, start times and links', () => {
    assert.deepEqual(clusterStatusOf(reports), {
      instances: [
        { instance: '1', connections: 3, since: 1000 },
        { instance: '3', connections: 2, since: 1000, url: 'http://localhost:8083' },
        { instance: '10', connections: 0, since: 1000 },
      ],
    });
  });

  test("a restarted replica's old report, until it expires, is ignored: only the newest process counts", () => {
    const old = report({ instance: '2', id: 'old', since: 1000, connections: 5, people: { Ghost: 5 } });
    const restarted = report({ instance: '2', id: 'new', since: 9000, connections: 1, people: { Ada: 1 } });
    assert.deepEqual(clusterStatusOf([old, restarted]).instances, [{ instance: '2', connections: 1, since: 9000 }]);
    assert.deepEqual(presenceOf([restarted, old]).people, [['Ada', '2']]);
  });
});

describe('people and the cluster across three replicas on one Redis', { timeout: 90_000 }, () => {
  let dir: string;
  let redis: ChildService | undefined;
  let redisUrl: string;
  const replicas = new Map<number, { service: ChildService; url: string; port: number }>();

  function url(number: number): string {
    const found = replicas.get(number);
    assert.ok(found, `replica ${number} was not started`);
    return found.url;
  }

  async function join(t: TestContext, number: number, name: string): Promise<ListeningClient> {
    const client = await ListeningClient.connect(url(number), { name });
    t.after(() => client.close());
    return client;
  }

  /** The replicas of `name` in the client's latest presence list, or undefined where it is not listed. */
  const instancesOf = (client: ListeningClient, name: string) => client.presence?.people.find(([listed]) => listed === name)?.slice(1);

  before(async () => {
    dir = makeTempDir('people');
    const redisPort = await freePort();
    redis = await startRedis({ port: redisPort, dir });
    redisUrl = `redis://127.0.0.1:${redisPort}`;
    await Promise.all(
      [1, 2, 3].map(async (number) => {
        const port = await freePort();
        const service = await startReplica({
          number,
          port,
          redisUrl,
          dir,
          env: { PRESENCE_GRACE_MS: String(JOIN_LEAVE_GRACE_MS) },
        });
        replicas.set(number, { service, url: `http://127.0.0.1:${port}`, port });
      }),
    );
  });

  after(async () => {
    await Promise.all([...replicas.values()].map(({ service }) => service.stop()));
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a bad name is refused with a connect_error that says why; no name at all gets a guest name', async (t) => {
    const socket = io(url(1), { transports: ['websocket'], forceNew: true, reconnection: false, auth: { name: 'x'.repeat(25) } });
    t.after(() => socket.close());
    const refusal = await withTimeout(new Promise<Error>((resolve) => socket.once('connect_error', resolve)), EVENT_TIMEOUT_MS, 'a connect_error');
    assert.equal(refusal.message, 'name is longer than 24 characters');
    assert.deepEqual((refusal as Error & { data?: HandshakeRefusal }).data, { field: 'name' });

    const guest = await ListeningClient.connect(url(2));
    t.after(() => guest.close());
    assert.match(guest.name, /^Guest [0-9a-z]{4}$/);
  });

  test('a new tab is welcomed with the list of rooms, then gets who is online, the cluster and who is in its other rooms', async (t) => {
    const maker = await join(t, 1, 'Maker');
    assert.deepEqual(await maker.socket.timeout(EVENT_TIMEOUT_MS).emitWithAck('create room', 'ops'), { ok: true, room: 'ops' });
    const ada = await ListeningClient.connect(url(1), { name: 'Ada', room: 'ops' });
    t.after(() => ada.close());
    await pollUntil(
      async () => ada.here,
      (here) => here?.people.some(([name]) => name === 'Ada') === true,
      { what: "Ada's replica to list her in ops" },
    );
    const socket = io(url(1), { transports: ['websocket'], forceNew: true, reconnection: false, auth: { name: 'Bea', rooms: ['ops'] } });
    t.after(() => socket.close());
    const arrivals: { event: string; payload: unknown }[] = [];
    socket.onAny((event: string, payload: unknown) => arrivals.push({ event, payload }));
    const lists = ['presence', 'here'];
    await pollUntil(
      async () => arrivals.map(({ event }) => event),
      (events) => lists.every((list) => events.includes(list)),
      { what: 'Bea to get every list' },
    );
    assert.equal(arrivals[0]?.event, 'welcome', `welcome first, then ${lists.join(', ')}: ${arrivals.map(({ event }) => event).join(', ')}`);
    const welcome = arrivals[0]!.payload as { rooms: string[]; allRooms: string[] };
    assert.deepEqual(welcome.rooms, [DEFAULT_ROOM, 'ops']);
    assert.ok(welcome.allRooms.includes('ops'), `every room in the welcome: ${welcome.allRooms.join(', ')}`);
    // Who was there already, at once: not only once the next update adds Bea.
    const heres = arrivals.filter(({ event }) => event === 'here').map(({ payload }) => payload as Presence & { room: string });
    assert.ok(heres.find(({ room }) => room === 'ops')?.people.some(([name]) => name === 'Ada'));
    // Everyone online is in DEFAULT_ROOM: `presence` says who, and no `here` repeats it.
    assert.deepEqual(
      heres.filter(({ room }) => room === DEFAULT_ROOM),
      [],
    );
  });

  test('three people on three replicas see the same list, with the same count', async (t) => {
    const clients = [await join(t, 1, 'Ada'), await join(t, 2, 'Bob'), await join(t, 3, 'Cy')];
    const expected: ListedPerson[] = [
      ['Ada', '1'],
      ['Bob', '2'],
      ['Cy', '3'],
    ];
    for (const client of clients) {
      await pollUntil(
        async () => client.presence,
        (presence) => presence !== undefined && expected.every(([name, ...instances]) => instancesOf(client, name)?.join() === instances.join()),
        {
          what: `${client.name}'s list to show all three`,
        },
      );
    }
    await pollUntil(
      async () => clients.map((client) => JSON.stringify(client.presence)),
      (lists) => new Set(lists).size === 1,
      { what: 'the three lists to be identical' },
    );
    const { presence } = clients[0]!;
    assert.equal(presence!.count, presence!.people.length);
  });

  test('one person with two tabs on two replicas is listed once, joins once, and leaves only when the last tab closes', async (t) => {
    const observer = await join(t, 3, 'Observer');
    const firstTab = await join(t, 1, 'Dana');
    await pollUntil(
      async () => observer.eventsAbout('joined', 'Dana').length,
      (count) => count === 1,
      { what: 'Dana joining' },
    );
    const secondTab = await join(t, 2, 'Dana');
    await pollUntil(
      async () => instancesOf(observer, 'Dana'),
      (instances) => instances?.join() === '1,2',
      { what: 'Dana on instances 1 and 2' },
    );
    assert.equal(observer.eventsAbout('joined', 'Dana').length, 1, 'a second tab is not a second join');

    firstTab.close();
    await pollUntil(
      async () => instancesOf(observer, 'Dana'),
      (instances) => instances?.join() === '2',
      { what: 'Dana on instance 2 only' },
    );
    secondTab.close();
    const lastClosedAt = Date.now();
    await pollUntil(
      async () => observer.eventsAbout('left', 'Dana'),
      (left) => left.length > 0,
      { what: 'Dana leaving', timeoutMs: 15_000 },
    );
    assert.equal(instancesOf(observer, 'Dana'), undefined, 'Dana is still listed');
    // Had the first tab's close counted as leaving, this would have come about a second too early.
    const [left] = observer.eventsAbout('left', 'Dana');
    assert.ok(left!.at - lastClosedAt >= JOIN_LEAVE_GRACE_MS - 1000, `left ${left!.at - lastClosedAt} ms after the last tab closed`);
  });

  test('typing on one replica reaches the others, with the name and the instance', async (t) => {
    const [typist, second, third] = [await join(t, 1, 'Eve'), await join(t, 2, 'Finn'), await join(t, 3, 'Gus')];
    typist.socket.emit('typing');
    for (const reader of [second, third]) {
      await pollUntil(
        async () => reader.eventsAbout('typing', 'Eve'),
        (events) => events.length === 1,
        { what: `${reader.name} seeing Eve type` },
      );
    }
  });

  test('the cluster panel: every replica, with its connections, start time and link', async (t) => {
    const clients = [
      await join(t, 1, 'Hal'),
      await join(t, 2, 'Ivy'),
      await join(t, 2, 'Jo'),
      await join(t, 3, 'Kim'),
      await join(t, 3, 'Lu'),
      await join(t, 3, 'Max'),
    ];
    const [watcher] = clients;
    const counts = await pollUntil(
      async () => watcher!.cluster?.instances.map(({ instance, connections }) => `${instance}:${connections}`).join(' '),
      (summary) => summary === '1:1 2:2 3:3',
      { what: 'the panel to show 1, 2 and 3 connections' },
    );
    assert.ok(counts);
    for (const { instance, since, url: link } of watcher!.cluster!.instances) {
      const replica = replicas.get(Number(instance))!;
      assert.equal(link, replica.url, `instance ${instance}'s link`);
      assert.ok(since > Date.now() - 120_000 && since <= Date.now(), `instance ${instance} started at ${since}`);
    }
  });

  test('reports lost from Redis (as if it had restarted empty) are written again, though nothing changed on their replicas', async (t) => {
    const watcher = await join(t, 1, 'Ned');
    const redisClient = createClient({ url: redisUrl });
    await redisClient.connect();
    t.after(() => redisClient.destroy());
    const REGISTRY_KEY = '{chat}:replicas';
    const reportKey = (id: string) => `{chat}:replica:${id}`;
    /** Each report in Redis, as instance:connections. */
    const reportsInRedis = async () => {
      const ids = await redisClient.sMembers(REGISTRY_KEY);
      const texts = ids.length > 0 ? await redisClient.mGet(ids.map(reportKey)) : [];
      const summaries = texts.map((text) => {
        if (text === null) return 'gone';
        const { instance, connections } = JSON.parse(text) as ReplicaReport;
        return `${instance}:${connections}`;
      });
      return summaries.sort().join(' ');
    };
    // Only the watcher is left: from now on nothing changes, and each replica only renews its report.
    await pollUntil(reportsInRedis, (reports) => reports === '1:1 2:0 3:0', { what: 'the reports to hold only the watcher' });
    const ids = await redisClient.sMembers(REGISTRY_KEY);
    await redisClient.del([REGISTRY_KEY, ...ids.map(reportKey)]);

    await pollUntil(reportsInRedis, (reports) => reports === '1:1 2:0 3:0', { what: 'every replica to write its report again' });
    await pollUntil(
      async () => watcher.cluster?.instances.map(({ instance }) => instance).join(' '),
      (instances) => instances === '1 2 3',
      { what: 'the panel to list the three replicas' },
    );
  });
});

/**
 * NOTICE_CROWD_LIMIT more people on the replica at `url`, closed when the test ends, and the
 * observer's list counting them and itself: a crowd. Returns its size.
 */
async function gatherCrowd(t: TestContext, url: string, observer: ListeningClient, timeoutMs: number): Promise<number> {
  const crowd = await Promise.all(Array.from({ length: NOTICE_CROWD_LIMIT }, (_, n) => ListeningClient.connect(url, { name: `Crowd ${n}` })));
  t.after(() => {
    for (const client of crowd) client.close();
  });
  const crowdSize = NOTICE_CROWD_LIMIT + 1;
  await pollUntil(
    async () => observer.presence?.count,
    (count) => count === crowdSize,
    { what: `a list of ${crowdSize} people`, timeoutMs },
  );
  return crowdSize;
}

/**
 * A replica of its own, without Redis, for the tests of one describe block: started before them
 * with `env` (and no rate limit), stopped after them. Its `url` is set once it has started.
 */
function replicaOfItsOwn(name: string, env: NodeJS.ProcessEnv): { url: string } {
  const replica = { url: '' };
  let dir: string;
  let service: ChildService | undefined;
  before(async () => {
    dir = makeTempDir(name);
    const port = await freePort();
    service = await startReplica({ number: 1, port, dir, env: { ...WITHOUT_RATE_LIMIT, ...env } });
    replica.url = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return replica;
}

describe(`in a crowd (more than ${NOTICE_CROWD_LIMIT} people), on one replica`, { timeout: 60_000 }, () => {
  const replica = replicaOfItsOwn('crowd', { PRESENCE_CROWD_SPACING_MS: String(CROWD_UPDATE_SPACING_MS) });

  test(`arrivals are not announced, the list and the panel go out at most every ${CROWD_UPDATE_SPACING_MS / 1000} s, and a newcomer gets the names with the update`, async (t) => {
    const observer = await ListeningClient.connect(replica.url, { name: 'Observer' });
    t.after(() => observer.close());
    const presenceArrivals: { at: number; count: number }[] = [];
    observer.socket.on('presence', ({ count }) => presenceArrivals.push({ at: performance.now(), count }));
    const crowdSize = await gatherCrowd(t, replica.url, observer, 3 * CROWD_UPDATE_SPACING_MS);
    const crowdListAt = presenceArrivals.find(({ count }) => count === crowdSize)!.at;

    const newcomer = io(replica.url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { name: 'Zed' } });
    const newcomerHeard: Presence[] = [];
    newcomer.on('presence', (presence) => newcomerHeard.push(presence));
    t.after(() => newcomer.close());
    await pollUntil(
      async () => observer.presence?.count,
      (count) => count === crowdSize + 1,
      { what: 'the list to count the newcomer', timeoutMs: 3 * CROWD_UPDATE_SPACING_MS },
    );
    const newcomerListAt = presenceArrivals.find(({ count }) => count === crowdSize + 1)!.at;
    // Outside a crowd this update would follow the arrival within a quarter of a second. (A little
    // slack: the two packets' trips from the server are timed here, at the client.)
    assert.ok(newcomerListAt - crowdListAt >= CROWD_UPDATE_SPACING_MS - 250, `updates ${Math.round(newcomerListAt - crowdListAt)} ms apart`);
    // The newcomer's first list: the crowd's count, at once, without the names; the update brings them.
    assert.deepEqual(
      newcomerHeard.map(({ count, people }) => ({ count, names: people.length })),
      [
        { count: crowdSize, names: 0 },
        { count: crowdSize + 1, names: Math.min(crowdSize + 1, PRESENCE_LIST_LIMIT) },
      ],
    );

    // A "joined" would have gone out in the same update as the list; an answer to a message sent
    // now comes after anything sent before it on this connection.
    const answer = await sendMessage(observer.socket, 'anyone new?');
    assert.equal(answer !== 'no answer' && answer.ok, true);
    assert.deepEqual(observer.eventsAbout('joined', 'Zed'), []);
  });
});

describe(`a crowd that thins out to fewer than ${NOTICE_CROWD_LIMIT} people, on one replica`, { timeout: 60_000 }, () => {
  const replica = replicaOfItsOwn('thinning', {
    PRESENCE_CROWD_SPACING_MS: String(CROWD_UPDATE_SPACING_MS),
    PRESENCE_GRACE_MS: String(THINNING_GRACE_MS),
  });

  test('its departures are not announced, nor those still there as new; then joins and leaves are again', async (t) => {
    const observer = await ListeningClient.connect(replica.url, { name: 'Observer' });
    const stay = await ListeningClient.connect(replica.url, { name: 'Stay' });
    t.after(() => {
      observer.close();
      stay.close();
    });
    const crowd = await Promise.all(Array.from({ length: NOTICE_CROWD_LIMIT }, (_, n) => ListeningClient.connect(replica.url, { name: `Crowd ${n}` })));
    await pollUntil(
      async () => observer.presence?.count,
      (count) => count === NOTICE_CROWD_LIMIT + 2,
      { what: 'a crowd in the list', timeoutMs: 3 * CROWD_UPDATE_SPACING_MS },
    );
    for (const client of crowd) client.close();
    await pollUntil(
      async () => observer.presence?.count,
      (count) => count === 2,
      { what: 'the list to have thinned out to two', timeoutMs: 3 * CROWD_UPDATE_SPACING_MS },
    );
    // (The arrivals before the crowd formed were announced.)
    const heardBefore = observer.events.length;
    // Announced again: an arrival, and a departure once the grace period is over. The crowd's
    // departures, a grace period older, would have come before it.
    const newcomer = await ListeningClient.connect(replica.url, { name: 'Yan' });
    await pollUntil(
      async () => observer.eventsAbout('joined', 'Yan').length,
      (joins) => joins === 1,
      { what: 'the newcomer to be announced' },
    );
    newcomer.close();
    await pollUntil(
      async () => observer.eventsAbout('left', 'Yan').length,
      (leaves) => leaves === 1,
      { what: 'the newcomer to be announced as gone', timeoutMs: THINNING_GRACE_MS + 3 * CROWD_UPDATE_SPACING_MS },
    );
    assert.deepEqual(
      observer.events.slice(heardBefore).map(({ event, name }) => `${event} ${name}`),
      ['joined Yan', 'left Yan'],
    );
  });
});

describe('in a crowd, during a storm of arrivals, on one replica', { timeout: 60_000 }, () => {
  /** The replica's crowd spacing and storm threshold, both below production's 5 s and 25 a second. */
  const SPACING_MS = 1000;
  const STORM_ARRIVALS_PER_SECOND = 20;
  /** The storm: one arrival every 20 ms (50 a second, well over the threshold), for longer than four spacings. */
  const ARRIVAL_EVERY_MS = 20;
  const STORM_MS = 7 * SPACING_MS;
  const replica = replicaOfItsOwn('storm', {
    PRESENCE_CROWD_SPACING_MS: String(SPACING_MS),
    PRESENCE_STORM_ARRIVALS: String(STORM_ARRIVALS_PER_SECOND),
  });

  test('the list waits until the storm is over, but never more than four spacings; newcomers get the names with it', async (t) => {
    const observer = await ListeningClient.connect(replica.url, { name: 'Observer' });
    const storm: ReturnType<typeof io>[] = [];
    /** Each arrival's `presence` packets, in order. */
    const heard = new Map<ReturnType<typeof io>, Presence[]>();
    t.after(() => {
      observer.close();
      for (const socket of storm) socket.close();
    });
    const crowdSize = await gatherCrowd(t, replica.url, observer, 5 * SPACING_MS);

    const updates: { at: number; count: number }[] = [];
    observer.socket.on('presence', ({ count }) => updates.push({ at: performance.now(), count }));
    const stormStartedAt = performance.now();
    for (let n = 0; performance.now() - stormStartedAt < STORM_MS; n++) {
      const socket = io(replica.url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { name: `Storm ${n}` } });
      storm.push(socket);
      heard.set(socket, []);
      socket.on('presence', (presence) => heard.get(socket)!.push(presence));
      await new Promise((resolve) => setTimeout(resolve, ARRIVAL_EVERY_MS));
    }
    const stormEndedAt = performance.now();
    const everyone = crowdSize + storm.length;
    await pollUntil(
      async () => observer.presence?.count,
      (count) => count === everyone,
      { what: `the list to count all ${everyone} after the storm`, timeoutMs: 5 * SPACING_MS },
    );
    assert.equal(storm.filter((socket) => socket.connected).length, storm.length, 'every arrival of the storm is connected');

    const during = updates.filter(({ at }) => at < stormEndedAt);
    // Without the storm rule, one update a spacing: about seven. With it, the one the cap forces
    // (four spacings after the last read before the storm), and perhaps one in the storm's first second.
    assert.ok(
      during.length <= 2,
      `${during.length} updates during the storm: ${JSON.stringify(during.map(({ at, count }) => [Math.round(at - stormStartedAt), count]))}`,
    );
    assert.ok(
      during.some(({ count }) => count > crowdSize + 2 * STORM_ARRIVALS_PER_SECOND),
      `the cap: the list moved during the storm's ${STORM_MS / 1000} s (${JSON.stringify(during.map(({ count }) => count))})`,
    );

    // Every newcomer's first list came without the names, as in any crowd…
    const firsts = storm.map((socket) => heard.get(socket)![0]);
    const unnamed = firsts.filter((presence) => presence && presence.count > 0 && presence.people.length === 0).length;
    assert.equal(unnamed, storm.length, `${unnamed} of ${storm.length} arrivals got their first list without the names`);
    // …and every one of them then got them, with an update, by the storm's end or soon after.
    const listed = (presence: Presence | undefined) => presence !== undefined && presence.people.length === Math.min(presence.count, PRESENCE_LIST_LIMIT);
    await pollUntil(
      async () => storm.filter((socket) => !listed(heard.get(socket)!.at(-1))).length,
      (unlisted) => unlisted === 0,
      { what: 'every arrival of the storm to hold a list with the names', timeoutMs: 3 * SPACING_MS },
    );
  });
});

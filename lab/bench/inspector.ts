/**
 * The benchmark's window into a replica: Node's inspector protocol, over the WebSocket the replica
 * opens when started with `--inspect=127.0.0.1:0` (lab/bench/setups.ts). Through it the bench
 * forces a full collection before reading memory (so that a figure does not move with the
 * collector's timing), takes heap snapshots and CPU profiles, and summarises them: what is written
 * to lab/bench/results/ is a few kilobytes of summary, never the raw snapshot.
 */
import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';

/** Node prints this on stderr, which the launcher sends to the replica's log file. */
const LISTENING = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/;

export interface MemoryAfterCollection {
  heapUsed: number;
  rss: number;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** Where a replica's CPU went: self time by place in the code, and by package, as shares of the `durationMs` sampled. */
export interface ProfileSummary {
  samples: number;
  durationMs: number;
  byPackage: Record<string, number>;
  topFunctions: { function: string; share: number }[];
}

/** What a replica's heap gained between two snapshots, per connection added, by constructor. */
export interface HeapDiffSummary {
  connections: number;
  bytesPerConnection: number;
  top: { type: string; name: string; countPerConnection: number; bytesPerConnection: number }[];
}

type HeapCensus = Map<string, { count: number; bytes: number }>;

export class Inspector {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(result: unknown): void; reject(err: Error): void }>();
  private chunks: string[] = [];

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString()) as {
        id?: number;
        result?: unknown;
        error?: { message: string };
        method?: string;
        params?: { chunk: string };
      };
      if (message.method === 'HeapProfiler.addHeapSnapshotChunk') this.chunks.push(message.params!.chunk);
      if (message.id === undefined) return;
      const call = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) call?.reject(new Error(message.error.message));
      else call?.resolve(message.result);
    });
  }

  /** Connects to the inspector of the process whose log is `logFile`. */
  static async attach(logFile: string): Promise<Inspector> {
    const url = LISTENING.exec(readFileSync(logFile, 'utf8'))?.[1];
    if (!url) throw new Error(`${logFile} shows no inspector: was the replica started with --inspect?`);
    const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    return new Inspector(socket);
  }

  private call<T>(method: string, params: object = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (result: unknown) => void, reject });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  async collectGarbage(): Promise<void> {
    await this.call('HeapProfiler.collectGarbage');
  }

  /** Heap and RSS right after a full garbage collection. */
  async memoryAfterCollection(): Promise<MemoryAfterCollection> {
    await this.collectGarbage();
    const { result } = await this.call<{ result: { value: string } }>('Runtime.evaluate', {
      expression: 'JSON.stringify(process.memoryUsage())',
      returnByValue: true,
    });
    const usage = JSON.parse(result.value) as { heapUsed: number; rss: number };
    return { heapUsed: usage.heapUsed, rss: usage.rss };
  }

  /** Live objects by type and constructor, from a heap snapshot (which collects garbage first). */
  async heapCensus(): Promise<HeapCensus> {
    this.chunks = [];
    await this.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    const snapshot = JSON.parse(this.chunks.join('')) as {
      snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
      nodes: number[];
      strings: string[];
    };
    this.chunks = [];
    const fields = snapshot.snapshot.meta.node_fields;
    const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((field) => fields.indexOf(field)) as [number, number, number];
    const types = snapshot.snapshot.meta.node_types[0];
    const census: HeapCensus = new Map();
    for (let at = 0; at < snapshot.nodes.length; at += fields.length) {
      const type = types[snapshot.nodes[at + typeAt]!]!;
      // Strings and code are named by their content: one line per type is enough for them.
      const name = type === 'object' || type === 'closure' || type === 'native' ? snapshot.strings[snapshot.nodes[at + nameAt]!]! : '';
      const key = `${type}\t${name}`;
      const entry = census.get(key) ?? { count: 0, bytes: 0 };
      entry.count += 1;
      entry.bytes += snapshot.nodes[at + sizeAt]!;
      census.set(key, entry);
    }
    return census;
  }

  /** Samples the CPU while `during` runs, every `intervalMicros` (V8's default: 1 ms). */
  async profile(during: () => Promise<unknown>, intervalMicros = 1000): Promise<ProfileSummary> {
    await this.call('Profiler.enable');
    await this.call('Profiler.setSamplingInterval', { interval: intervalMicros });
    await this.call('Profiler.start');
    let stopped: { profile: { nodes: ProfileNode[]; startTime: number; endTime: number } };
    try {
      await during();
    } finally {
      stopped = await this.call('Profiler.stop');
      await this.call('Profiler.disable');
    }
    return summariseProfile(stopped.profile.nodes, (stopped.profile.endTime - stopped.profile.startTime) / 1000);
  }

  close(): void {
    this.socket.close();
  }
}

/** What grew between two censuses, per connection added: the 25 largest lines. */
export function diffCensus(before: HeapCensus, after: HeapCensus, connections: number): HeapDiffSummary {
  const lines = [...after].map(([key, { count, bytes }]) => {
    const [type, name] = key.split('\t') as [string, string];
    const was = before.get(key) ?? { count: 0, bytes: 0 };
    return { type, name, countPerConnection: round((count - was.count) / connections, 2), bytesPerConnection: round((bytes - was.bytes) / connections, 0) };
  });
  const total = (census: HeapCensus) => [...census.values()].reduce((sum, entry) => sum + entry.bytes, 0);
  return {
    connections,
    bytesPerConnection: round((total(after) - total(before)) / connections, 0),
    top: lines.sort((a, b) => b.bytesPerConnection - a.bytesPerConnection).slice(0, 25),
  };
}

/** A function's package: the folder under node_modules, the project's own tree, Node's internals, or V8's own entries. */
function packageOf(url: string, functionName: string): string {
  if (!url) return `(${functionName.replace(/[()]/g, '') || 'native'})`;
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (inModules) return inModules[1]!;
  if (url.startsWith('node:')) return 'node (internal)';
  return /\/dist\/(server|shared)\//.test(url) || /\/dist\/[^/]+\.js$/.test(url) ? 'the chat server' : url;
}

function summariseProfile(nodes: ProfileNode[], durationMs: number): ProfileSummary {
  const samples = nodes.reduce((sum, node) => sum + (node.hitCount ?? 0), 0);
  const byPackage: Record<string, number> = {};
  const byFunction: Record<string, number> = {};
  for (const { callFrame, hitCount = 0 } of nodes) {
    if (hitCount === 0) continue;
    const where = packageOf(callFrame.url, callFrame.functionName);
    byPackage[where] = (byPackage[where] ?? 0) + hitCount;
    const name =
      `${callFrame.functionName || '(anonymous)'} ${callFrame.url ? `${callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/')}:${callFrame.lineNumber + 1}` : ''}`.trim();
    byFunction[name] = (byFunction[name] ?? 0) + hitCount;
  }
  const shares = (counts: Record<string, number>) =>
    Object.entries(counts)
      .sort(([, a], [, b]) => b - a)
      .map(([key, count]) => [key, round(count / samples, 4)] as const);
  return {
    samples,
    durationMs: round(durationMs, 0),
    byPackage: Object.fromEntries(shares(byPackage)),
    topFunctions: shares(byFunction)
      .slice(0, 25)
      .map(([name, share]) => ({ function: name, share })),
  };
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));

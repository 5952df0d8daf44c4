/**
 * What the kernel says a process used, read from /proc: its CPU time, resident memory and bytes written, with
 * its children (nginx's workers). The benchmark's figures come from here, not from the load
 * generators' side.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The process and its direct children: nginx's master and workers; one process for the rest. */
function processTree(pid: number): number[] {
  const tree = [pid];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1]) === pid) tree.push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return tree;
}

/** A figure of each process of the tree, summed; a process that ends meanwhile adds nothing. */
function sumOverTree(pid: number, figure: (member: number) => number): number {
  let total = 0;
  for (const member of processTree(pid)) {
    try {
      total += figure(member);
    } catch {
      // ended meanwhile
    }
  }
  return total;
}

/** The number after `label` in a /proc file of the process, or 0 where it has none. */
function procField(member: number, file: string, label: string): number {
  return Number(new RegExp(`^${label}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${member}/${file}`, 'utf8'))?.[1] ?? 0);
}

/**
 * CPU time of a process tree, in microseconds: the sum over every thread of the first field of
 * /proc/PID/task/TID/schedstat (nanoseconds on a CPU), finer than /proc/PID/stat's 10 ms ticks.
 * Of it, the main thread's (its thread id is the pid): for a replica, the JavaScript; the rest of
 * its threads are V8's (the collector's helpers, the compiler), libuv's pool and the inspector's.
 */
export function treeCpuMicros(pid: number): { total: number; mainThread: number } {
  let mainThread = 0;
  const nanos = sumOverTree(pid, (member) =>
    readdirSync(`/proc/${member}/task`).reduce((sum, task) => {
      const taskNanos = Number(readFileSync(`/proc/${member}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
      if (task === String(pid)) mainThread = taskNanos;
      return sum + taskNanos;
    }, 0),
  );
  return { total: nanos / 1000, mainThread: mainThread / 1000 };
}

/** Resident memory of a process tree, in bytes. */
export function treeRssBytes(pid: number): number {
  return sumOverTree(pid, (member) => procField(member, 'status', 'VmRSS') * 1024);
}

/** Bytes a process tree has handed to write system calls (sockets and files alike: /proc/PID/io's wchar). */
export function treeWrittenBytes(pid: number): number {
  return sumOverTree(pid, (member) => procField(member, 'io', 'wchar'));
}

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

/**
 * CPU time of a process tree, in microseconds: the sum over every thread of the first field of
 * /proc/PID/task/TID/schedstat (nanoseconds on a CPU), finer than /proc/PID/stat's 10 ms ticks.
 */
export function treeCpuMicros(pid: number): number {
  let nanos = 0;
  for (const member of processTree(pid)) {
    try {
      for (const task of readdirSync(`/proc/${member}/task`)) nanos += Number(readFileSync(`/proc/${member}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // ended meanwhile
    }
  }
  return nanos / 1000;
}

/** Resident memory of a process tree, in bytes. */
export function treeRssBytes(pid: number): number {
  let total = 0;
  for (const member of processTree(pid)) {
    try {
      total += Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${member}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    } catch {
      // ended meanwhile
    }
  }
  return total;
}

/** Bytes a process tree has handed to write system calls (sockets and files alike: /proc/PID/io's wchar). */
export function treeWrittenBytes(pid: number): number {
  let total = 0;
  for (const member of processTree(pid)) {
    try {
      total += Number(/^wchar:\s+(\d+)/m.exec(readFileSync(`/proc/${member}/io`, 'utf8'))?.[1] ?? 0);
    } catch {
      // ended meanwhile
    }
  }
  return total;
}

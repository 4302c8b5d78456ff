/**
 * What the kernel says about processes and the machine, for the benchmarks' CPU
 * accounting: /proc (clock ticks of 10 ms) and pgrep.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** utime + stime of a process in clock ticks (1/100 s); 0 once it is gone. */
export function ticks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

export function childrenOf(pid: number): number[] {
  const out = spawnSync('pgrep', ['-P', String(pid)]).stdout.toString().trim();
  return out ? out.split('\n').map(Number) : [];
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

export function postmasterPid(dataDir: string): number {
  return Number(readFileSync(`${dataDir}/postmaster.pid`, 'utf8').split('\n')[0]);
}

/** The machine's CPU time split and its context switches so far, from /proc/stat (for the idle and stolen shares over a run). */
export function machineTicks(): { total: number; idle: number; steal: number; contextSwitches: number } {
  const stat = readFileSync('/proc/stat', 'utf8');
  const fields = stat.split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: fields.reduce((a, b) => a + b, 0), idle: fields[3]! + fields[4]!, steal: fields[7]!, contextSwitches: Number(/^ctxt (\d+)$/m.exec(stat)![1]) };
}

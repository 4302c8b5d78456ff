import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServiceName } from '@bazaar/topology';

/** The file in the state folder where a running launcher says where everything is. */
export const RUNTIME_FILE = 'runtime.json';

export interface RuntimeFile {
  pid: number;
  gateway: string;
  broker: string;
  /** Each service's own database (connection strings with credentials). */
  databases: Partial<Record<ServiceName, string>>;
  /** Replica 1 of each service: what the `<SERVICE>_URL` variables point at. */
  services: Record<ServiceName, string>;
  /** Every process of each service (`npm start -- --replicas catalog=3`), replica 1 first; pids as of the last (re)start. */
  instances: Record<ServiceName, RuntimeInstance[]>;
  /** The local trace console, when it runs. */
  traces?: string;
}

export interface RuntimeInstance {
  url: string;
  pid: number;
  /** 1, 2, …; the launcher names replica n > 1 `<service>#<n>` in its logs. */
  replica: number;
}

/** What the launcher running on `stateDir` wrote, or null when none runs there. */
export async function readRuntimeFile(stateDir: string): Promise<RuntimeFile | null> {
  try {
    return JSON.parse(await readFile(join(stateDir, RUNTIME_FILE), 'utf8')) as RuntimeFile;
  } catch {
    return null;
  }
}

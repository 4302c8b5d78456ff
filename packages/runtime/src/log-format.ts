/** Turns a service's JSON log line into one short human line; other lines pass through. */
const levelColors: Record<string, string> = { trace: '90', debug: '90', info: '32', warn: '33', error: '31', fatal: '35' };
const skipped = new Set(['level', 'time', 'service', 'msg', 'pid', 'hostname', 'traceId', 'spanId']);

export function formatLogLine(line: string, color: boolean): string {
  if (!line.startsWith('{')) return line;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = String(entry['level'] ?? 'info');
  const time = typeof entry['time'] === 'string' ? entry['time'].slice(11, 19) : '';
  const tag = color ? `\x1b[${levelColors[level] ?? '0'}m${level.toUpperCase().padEnd(5)}\x1b[0m` : level.toUpperCase().padEnd(5);
  const fields = Object.entries(entry)
    .filter(([key]) => !skipped.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'object' ? JSON.stringify(value) : String(value)}`)
    .join(' ');
  return `${time} ${tag} ${String(entry['msg'] ?? '')}${fields ? `  ${fields}` : ''}`;
}

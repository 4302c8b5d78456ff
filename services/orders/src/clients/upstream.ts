import { AppError, propagationHeaders } from '@bazaar/chassis';
import { request, type Dispatcher } from 'undici';

/** A synchronous call orders makes during placement; resilience policies per dependency come with the resilience issue. */
export async function callUpstream<T>(
  service: string,
  url: string,
  options: { method?: Dispatcher.HttpMethod; body?: unknown; authorization?: string | undefined; timeoutMs: number },
): Promise<{ status: number; body: T }> {
  const headers = propagationHeaders({ accept: 'application/json' });
  if (options.authorization) headers['authorization'] = options.authorization;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, {
      method: options.method ?? 'GET',
      headers,
      body: options.body === undefined ? null : JSON.stringify(options.body),
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (error) {
    const timedOut = (error as Error).name === 'TimeoutError' || /timeout/i.test((error as Error).message);
    throw new AppError(timedOut ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNAVAILABLE', `${service} ${timedOut ? 'did not answer in time' : 'could not be reached'}`);
  }
  const text = await response.body.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    throw new AppError('UPSTREAM_UNAVAILABLE', `${service} answered something that is not JSON`);
  }
  if (response.statusCode >= 500) throw new AppError('UPSTREAM_UNAVAILABLE', `${service} failed (${response.statusCode})`);
  return { status: response.statusCode, body: body as T };
}

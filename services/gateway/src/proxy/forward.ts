import { AppError, propagationHeaders } from '@bazaar/chassis';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import type { Upstream } from './upstreams.ts';

/** Headers that describe one hop and must not be forwarded (RFC 9110 §7.6.1). */
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length']);

function requestHeaders(request: FastifyRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  const raw = request.headers;
  for (const name in raw) {
    if (hopByHop.has(name)) continue;
    const value = raw[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const forwardedFor = raw['x-forwarded-for'];
  headers['x-forwarded-for'] = forwardedFor ? `${forwardedFor}, ${request.ip}` : request.ip;
  headers['x-forwarded-proto'] = request.protocol;
  if (raw.host) headers['x-forwarded-host'] = raw.host;
  return propagationHeaders(headers);
}

/**
 * Forwards the request to `upstream` and streams its answer back. An upstream that
 * cannot be reached answers 502, one that does not answer in time 504, both as
 * problem+json naming the service — never a hang.
 */
export async function forward(upstream: Upstream, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  let response: Dispatcher.ResponseData;
  try {
    response = await upstream.pool.request({
      method: request.method as Dispatcher.HttpMethod,
      path: request.url,
      headers: requestHeaders(request),
      body: request.body as Buffer | undefined,
    });
  } catch (error) {
    throw upstreamFailure(upstream, error);
  }
  reply.code(response.statusCode);
  for (const name in response.headers) {
    if (hopByHop.has(name) && name !== 'content-length') continue;
    const value = response.headers[name];
    if (value !== undefined) reply.header(name, value);
  }
  return reply.send(response.body);
}

function upstreamFailure(upstream: Upstream, error: unknown): AppError {
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.ConnectTimeoutError) {
    return new AppError('UPSTREAM_TIMEOUT', `${upstream.service} did not answer in time`, { cause: error });
  }
  return new AppError('UPSTREAM_UNAVAILABLE', `${upstream.service} could not be reached`, { headers: { 'retry-after': '1' }, cause: error });
}

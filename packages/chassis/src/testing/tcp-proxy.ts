import { createServer, connect as tcpConnect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a real server (PostgreSQL, NATS, Redis) that a test can
 * freeze (connections stay open, nothing passes), cut (connections dropped, new
 * ones refused), drop the connections of (new ones accepted), slow down (what clients
 * send reaches the server later), and restore.
 */
export class TcpProxy {
  private server: Server;
  private readonly sockets = new Set<Socket>();
  private frozen = false;
  private delayMs = 0;
  readonly port: number;
  private readonly target: URL;

  private constructor(server: Server, target: URL) {
    this.server = server;
    this.target = target;
    this.port = (server.address() as AddressInfo).port;
  }

  /** `target`'s port, or `defaultPort` when the URL names none (`redis://127.0.0.1`). */
  static async start(target: URL, defaultPort?: number): Promise<TcpProxy> {
    const to = new URL(target);
    if (!to.port && defaultPort) to.port = String(defaultPort);
    const proxy: TcpProxy = new TcpProxy(
      await new Promise<Server>((resolve) => {
        const server = createServer((client) => proxy.accept(client));
        server.listen(0, '127.0.0.1', () => resolve(server));
      }),
      to,
    );
    return proxy;
  }

  private accept(client: Socket): void {
    const upstream = tcpConnect(Number(this.target.port), this.target.hostname);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => this.sockets.delete(socket));
    }
    client.on('data', (chunk) => {
      if (this.frozen) return;
      // Timers of one delay fire in the order they were set: the bytes stay in order.
      if (this.delayMs > 0) setTimeout(() => upstream.write(chunk), this.delayMs);
      else upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!this.frozen) client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  /** Connections stay open, and nothing passes either way (a stalled network): what is sent meanwhile is lost. */
  freeze(): void {
    this.frozen = true;
  }

  /** What clients send reaches the server `ms` later (0: at once); answers are not delayed. */
  delayToServer(ms: number): void {
    this.delayMs = ms;
  }

  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  cut(): void {
    this.server.close();
    this.dropConnections();
  }

  restore(): Promise<void> {
    this.frozen = false;
    this.delayMs = 0;
    this.server = createServer((client) => this.accept(client));
    return new Promise((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
  }

  async close(): Promise<void> {
    this.cut();
  }
}

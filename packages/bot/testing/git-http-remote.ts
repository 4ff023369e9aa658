/**
 * Test-only: bare repositories served over smart HTTP on loopback by the real `git http-backend` (CGI) behind a tiny
 * node server that demands one `Authorization` header, the way github.com answers a clone without credentials
 * (401 with a Basic challenge, so git without credentials ends in "could not read Username").
 */
import { spawn, execFileSync } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GitHttpRemote {
  /** `http://127.0.0.1:PORT/` */
  url: string;
  /** Every request's path and whether it carried the expected header (never the header itself). */
  requests: Array<{ method: string; path: string; authorized: boolean }>;
  stop(): Promise<void>;
}

const BACKEND = `${execFileSync('git', ['--exec-path'], { encoding: 'utf8' }).trim()}/git-http-backend`;

/** Serves every bare repository under `projectRoot`; only requests with `Authorization: <authorization>` get through. */
export async function startGitHttpRemote(projectRoot: string, authorization: string): Promise<GitHttpRemote> {
  const requests: GitHttpRemote['requests'] = [];

  function handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const authorized = (request.headers.authorization ?? '').toLowerCase() === authorization.toLowerCase();
    requests.push({ method: request.method ?? 'GET', path: url.pathname, authorized });
    if (!authorized) {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="emulated GitHub"', 'content-type': 'text/plain' }).end('authentication required\n');
      return;
    }
    const child = spawn(BACKEND, [], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        GIT_PROJECT_ROOT: projectRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        // http-backend allows receive-pack only for an authenticated user.
        REMOTE_USER: 'x-access-token',
        REQUEST_METHOD: request.method ?? 'GET',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.replace(/^\?/, ''),
        CONTENT_TYPE: request.headers['content-type'] ?? '',
        ...(request.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: String(request.headers['content-encoding']) } : {}),
        ...(request.headers['git-protocol'] ? { GIT_PROTOCOL: String(request.headers['git-protocol']) } : {}),
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    request.pipe(child.stdin);
    const chunks: Buffer[] = [];
    let headersDone = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        response.write(chunk);
        return;
      }
      chunks.push(chunk);
      const buffered = Buffer.concat(chunks);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of buffered.subarray(0, end).toString('latin1').split('\r\n')) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      response.writeHead(status, headers);
      response.write(buffered.subarray(end + 4));
    });
    child.on('close', () => {
      if (!headersDone) response.writeHead(500).end();
      else response.end();
    });
  }

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

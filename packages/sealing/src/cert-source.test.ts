import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { controllerFromEnv, isFileName, loadCertificate, loadKubeConfig, readCertificatePem } from './cert-source.ts';
import { CertificateExpiredError, CertificateFetchError } from './errors.ts';
import { makeTestCertificate, type TestCertificate } from '../testing/certificates.ts';

let key: TestCertificate;
let tls: TestCertificate;
let dir: string;
beforeAll(() => {
  key = makeTestCertificate();
  // The fake API server speaks TLS like a real one; the kubeconfig trusts this certificate as its CA.
  tls = makeTestCertificate({ subjectAltName: 'IP:127.0.0.1' });
  dir = mkdtempSync(join(tmpdir(), 'sealing-source-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Recorded {
  method: string;
  url: string;
  authorization: string | undefined;
  accept: string | undefined;
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function listen(
  handler: (request: IncomingMessage) => { status: number; type: string; body: string },
  protocol: 'http' | 'https' = 'http',
): Promise<{ base: string; requests: Recorded[] }> {
  const requests: Recorded[] = [];
  const listener: RequestListener = (request, response) => {
    requests.push({
      method: request.method ?? '',
      url: request.url ?? '',
      authorization: request.headers.authorization,
      accept: request.headers.accept,
    });
    const answer = handler(request);
    response.writeHead(answer.status, { 'content-type': answer.type });
    response.end(answer.body);
  };
  server = protocol === 'https' ? createHttpsServer({ key: tls.privateKeyPem, cert: tls.certificatePem }, listener) : createHttpServer(listener);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { base: `${protocol}://127.0.0.1:${(server!.address() as AddressInfo).port}`, requests };
}

/** A Service as the API server returns it for GET /api/v1/namespaces/{ns}/services/{name} (core/v1). */
function serviceObject(namespace: string, name: string, portName: string) {
  return {
    kind: 'Service',
    apiVersion: 'v1',
    metadata: {
      name,
      namespace,
      uid: '6b1a4f3e-8c1e-4a52-9d0b-0d6f2f1b7a10',
      resourceVersion: '4242',
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels: { name },
    },
    spec: {
      ports: [{ name: portName, protocol: 'TCP', port: 8080, targetPort: 8080 }],
      selector: { name },
      clusterIP: '10.96.12.34',
      clusterIPs: ['10.96.12.34'],
      type: 'ClusterIP',
      sessionAffinity: 'None',
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      internalTrafficPolicy: 'Cluster',
    },
    status: { loadBalancer: {} },
  };
}

/** A metav1.Status as the API server sends with a 404. */
function notFound(name: string) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `services "${name}" not found`,
    reason: 'NotFound',
    details: { name, kind: 'services' },
    code: 404,
  };
}

function writeKubeconfig(server: string): string {
  const path = join(dir, `kubeconfig-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: ${server}
    certificate-authority-data: ${Buffer.from(tls.certificatePem).toString('base64')}
users:
- name: tester
  user:
    token: test-bearer-token
contexts:
- name: fake
  context:
    cluster: fake
    user: tester
current-context: fake
`,
  );
  return path;
}

function fakeApiServer(namespace: string, name: string, portName: string, certificatePem: string) {
  return (request: IncomingMessage) => {
    if (request.method === 'GET' && request.url === `/api/v1/namespaces/${namespace}/services/${name}`) {
      return { status: 200, type: 'application/json', body: JSON.stringify(serviceObject(namespace, name, portName)) };
    }
    if (request.method === 'GET' && request.url === `/api/v1/namespaces/${namespace}/services/http:${name}:${portName}/proxy/v1/cert.pem`) {
      return { status: 200, type: 'application/x-pem-file', body: certificatePem };
    }
    const missing = decodeURIComponent((request.url ?? '').split('/').pop() ?? '');
    return { status: 404, type: 'application/json', body: JSON.stringify(notFound(missing)) };
  };
}

describe('certificate from the cluster, through the controller Service proxy', () => {
  it('reads the Service port name, then GETs cert.pem through the proxy with the kubeconfig credentials', async () => {
    const { base, requests } = await listen(fakeApiServer('kube-system', 'sealed-secrets-controller', 'http', key.certificatePem), 'https');
    const kubeConfig = loadKubeConfig({ kubeconfigPath: writeKubeconfig(base) });
    const pem = await readCertificatePem({ kubeConfig, env: {} });
    expect(pem).toBe(key.certificatePem);
    expect(requests.map((request) => `${request.method} ${request.url}`)).toEqual([
      'GET /api/v1/namespaces/kube-system/services/sealed-secrets-controller',
      'GET /api/v1/namespaces/kube-system/services/http:sealed-secrets-controller:http/proxy/v1/cert.pem',
    ]);
    expect(requests.every((request) => request.authorization === 'Bearer test-bearer-token')).toBe(true);
    expect(requests[1]!.accept).toBe('application/x-pem-file, */*');
  });

  it('takes the controller from SEALED_SECRETS_CONTROLLER_NAME/NAMESPACE and the kubeconfig from KUBECONFIG', async () => {
    const { base, requests } = await listen(fakeApiServer('sealed-secrets', 'sealed-secrets', 'https-ish', key.certificatePem), 'https');
    const env = {
      SEALED_SECRETS_CONTROLLER_NAME: 'sealed-secrets',
      SEALED_SECRETS_CONTROLLER_NAMESPACE: 'sealed-secrets',
      KUBECONFIG: writeKubeconfig(base),
    };
    const certificate = await loadCertificate({ env });
    expect(certificate.keyBits).toBe(2048);
    expect(requests[1]!.url).toBe('/api/v1/namespaces/sealed-secrets/services/http:sealed-secrets:https-ish/proxy/v1/cert.pem');
  });

  it('says which flags to set when the Service is not there', async () => {
    const { base } = await listen(fakeApiServer('kube-system', 'sealed-secrets-controller', 'http', key.certificatePem), 'https');
    const kubeConfig = loadKubeConfig({ kubeconfigPath: writeKubeconfig(base) });
    const attempt = readCertificatePem({ kubeConfig, controller: { name: 'sealed-secrets', namespace: 'kube-system' } });
    await expect(attempt).rejects.toThrow(CertificateFetchError);
    await expect(readCertificatePem({ kubeConfig, controller: { name: 'sealed-secrets', namespace: 'kube-system' } })).rejects.toThrow(
      /kube-system\/sealed-secrets: HTTP 404.*--controller-name and --controller-namespace/,
    );
  });

  it('reports an unreachable API server as a fetch error', async () => {
    const { base } = await listen(() => ({ status: 500, type: 'text/plain', body: '' }), 'https');
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    const kubeConfig = loadKubeConfig({ kubeconfigPath: writeKubeconfig(base) });
    await expect(readCertificatePem({ kubeConfig })).rejects.toThrow(CertificateFetchError);
  });

  it('defaults to kube-system/sealed-secrets-controller like kubeseal', () => {
    expect(controllerFromEnv({})).toEqual({ name: 'sealed-secrets-controller', namespace: 'kube-system' });
  });
});

describe('certificate from a file or URL', () => {
  it('reads a file path, a file:// URL and an http URL', async () => {
    const path = join(dir, 'cert.pem');
    writeFileSync(path, key.certificatePem);
    expect(await readCertificatePem({ cert: path })).toBe(key.certificatePem);
    expect(await readCertificatePem({ cert: `file://${path}` })).toBe(key.certificatePem);
    const { base, requests } = await listen(() => ({ status: 200, type: 'application/x-pem-file', body: key.certificatePem }));
    expect(await readCertificatePem({ cert: `${base}/v1/cert.pem` })).toBe(key.certificatePem);
    expect(requests[0]!.url).toBe('/v1/cert.pem');
    expect(await readCertificatePem({ env: { SEALED_SECRETS_CERT: path } })).toBe(key.certificatePem);
  });

  it('fails clearly for a missing file or an HTTP error, without echoing URL credentials or query', async () => {
    await expect(readCertificatePem({ cert: join(dir, 'absent.pem') })).rejects.toThrow(/absent.pem: no such file/);
    const { base, requests } = await listen(() => ({ status: 404, type: 'text/plain', body: 'nope' }));
    const withSecrets = `${base.replace('http://', 'http://user:hunter2@')}/cert.pem?token=abc123`;
    const failure = readCertificatePem({ cert: withSecrets });
    await expect(failure).rejects.toThrow(/HTTP 404/);
    const message = await readCertificatePem({ cert: withSecrets }).catch((error: Error) => error.message);
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('abc123');
    // URL credentials travel as Basic auth, as with kubeseal's Go HTTP client.
    expect(requests[0]!.authorization).toBe(`Basic ${Buffer.from('user:hunter2').toString('base64')}`);
    expect(requests[0]!.url).toBe('/cert.pem?token=abc123');
  });

  it('still refuses an expired certificate fetched from anywhere', async () => {
    const expired = makeTestCertificate({ startDate: '20200101000000Z', endDate: '20210101000000Z' });
    const path = join(dir, 'expired.pem');
    writeFileSync(path, expired.certificatePem);
    await expect(loadCertificate({ cert: path })).rejects.toThrow(CertificateExpiredError);
  });

  it('tells files from URLs as kubeseal does', () => {
    expect(isFileName('clusters/dev/sealed-secrets-cert.pem')).toBe(true);
    expect(isFileName('C:\\certs\\cert.pem')).toBe(true);
    expect(isFileName('https://example.internal/v1/cert.pem')).toBe(false);
    expect(isFileName('file:///tmp/cert.pem')).toBe(false);
  });
});

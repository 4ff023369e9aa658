import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { parseCertificate, type ParseCertificateOptions, type SealingCertificate } from './certificate.ts';
import { CertificateFetchError, SealingError } from './errors.ts';

/** kubeseal's defaults: the controller as installed by its plain manifests. */
export const DEFAULT_CONTROLLER_NAMESPACE = 'kube-system';
export const DEFAULT_CONTROLLER_NAME = 'sealed-secrets-controller';

export interface ControllerRef {
  name: string;
  namespace: string;
}

/**
 * kubeseal fills every flag from `SEALED_SECRETS_<FLAG>` when set (its flag-from-env prefix), so these
 * variables are the ones people already export for kubeseal.
 */
export function controllerFromEnv(env: Readonly<Record<string, string | undefined>>): ControllerRef {
  return {
    name: nonEmpty(env.SEALED_SECRETS_CONTROLLER_NAME) ?? DEFAULT_CONTROLLER_NAME,
    namespace: nonEmpty(env.SEALED_SECRETS_CONTROLLER_NAMESPACE) ?? DEFAULT_CONTROLLER_NAMESPACE,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** kubeseal's rule: anything without a URL scheme (or with a one-letter Windows drive "scheme") is a file name. */
export function isFileName(location: string): boolean {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(location);
  return !match || match[1]!.length === 1;
}

/** A URL fit for an error message: no credentials, no query (either may carry a token). */
function describeUrl(location: string): string {
  try {
    const url = new URL(location);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return '<unparseable URL>';
  }
}

async function readCertificateFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new CertificateFetchError(`cannot read the certificate file ${path}: ${reason}; commit it with the fetch-cert script or pass --cert URL`, {
      cause: error,
    });
  }
}

async function readCertificateUrl(location: string): Promise<string> {
  const url = new URL(location);
  if (url.protocol === 'file:') return readCertificateFile(fileURLToPath(url));
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CertificateFetchError(`--cert ${describeUrl(location)}: only files and http(s) URLs are supported`);
  }
  // fetch() refuses URLs with credentials; send them as Basic auth, as Go's HTTP client (kubeseal) does.
  const headers: Record<string, string> = {};
  if (url.username !== '' || url.password !== '') {
    const user = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    headers.Authorization = `Basic ${Buffer.from(user).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  let response: Response;
  try {
    response = await fetch(url, { headers, redirect: 'follow', signal: AbortSignal.timeout(30_000) });
  } catch (error) {
    const reason = ((error as Error).cause as Error | undefined)?.message ?? (error as Error).message;
    throw new CertificateFetchError(`cannot fetch ${describeUrl(location)}: ${reason.split(url.href).join(describeUrl(location))}`, { cause: error });
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new CertificateFetchError(`cannot fetch ${describeUrl(location)}: HTTP ${response.status} ${response.statusText}`);
  }
  return response.text();
}

export function loadKubeConfig(options: { kubeconfigPath?: string; env?: Readonly<Record<string, string | undefined>> }): KubeConfig {
  const kubeConfig = new KubeConfig();
  const fromEnv = nonEmpty(options.env?.KUBECONFIG)
    ?.split(':')
    .find((file) => file !== '');
  try {
    if (options.kubeconfigPath) kubeConfig.loadFromFile(options.kubeconfigPath);
    else if (fromEnv) kubeConfig.loadFromFile(fromEnv);
    else kubeConfig.loadFromDefault();
  } catch (error) {
    throw new CertificateFetchError(`cannot load the kubeconfig: ${(error as Error).message}; pass --kubeconfig, or --cert FILE|URL to seal offline`, {
      cause: error,
    });
  }
  return kubeConfig;
}

function apiErrorCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** GET through the API server with the kubeconfig's TLS and credentials, returning the body as text. */
async function getThroughApiServer(kubeConfig: KubeConfig, path: string, accept: string): Promise<{ status: number; body: string }> {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new CertificateFetchError('the kubeconfig has no current cluster; pass --kubeconfig or --cert');
  const url = new URL(cluster.server.replace(/\/+$/, '') + path);
  const options: https.RequestOptions = { method: 'GET', headers: { Accept: accept } };
  await kubeConfig.applyToHTTPSOptions(options);
  const transport = url.protocol === 'http:' ? http : https;
  return new Promise((resolve, reject) => {
    const request = transport.request(url, options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.setTimeout(30_000, () => request.destroy(new Error('timed out after 30 s')));
    request.on('error', reject);
    request.end();
  });
}

/**
 * Fetches the controller's current certificate the way kubeseal does: read the controller's Service to learn
 * the name of its first port, then GET `/v1/cert.pem` through the API server's service proxy.
 */
export async function fetchCertificateFromCluster(kubeConfig: KubeConfig, controller: ControllerRef): Promise<string> {
  const where = `${controller.namespace}/${controller.name}`;
  let portName: string;
  try {
    const service = await kubeConfig.makeApiClient(CoreV1Api).readNamespacedService({
      name: controller.name,
      namespace: controller.namespace,
    });
    const ports = service.spec?.ports ?? [];
    if (ports.length === 0) throw new CertificateFetchError(`the sealed-secrets Service ${where} has no ports`);
    portName = ports[0]!.name ?? '';
  } catch (error) {
    if (error instanceof SealingError) throw error;
    const code = apiErrorCode(error);
    const reason = code === undefined ? (error as Error).message : `HTTP ${code}`;
    throw new CertificateFetchError(
      `cannot get the sealed-secrets Service ${where}: ${reason}. Set --controller-name and --controller-namespace ` +
        '(or SEALED_SECRETS_CONTROLLER_NAME / SEALED_SECRETS_CONTROLLER_NAMESPACE; the Helm chart names it ' +
        '"sealed-secrets"), or pass --cert FILE|URL',
      { cause: error },
    );
  }
  const path =
    `/api/v1/namespaces/${encodeURIComponent(controller.namespace)}/services/` +
    `http:${encodeURIComponent(controller.name)}:${encodeURIComponent(portName)}/proxy/v1/cert.pem`;
  let response: { status: number; body: string };
  try {
    response = await getThroughApiServer(kubeConfig, path, 'application/x-pem-file, */*');
  } catch (error) {
    if (error instanceof SealingError) throw error;
    throw new CertificateFetchError(`cannot fetch the certificate from ${where}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (response.status !== 200) {
    throw new CertificateFetchError(
      `cannot fetch the certificate from ${where} through the service proxy: HTTP ${response.status}; ` +
        'check that the controller is running and that you may use services/proxy in its namespace',
    );
  }
  return response.body;
}

export interface CertificateSource {
  /** File path, file:// or http(s) URL; when absent the cluster is asked. */
  cert?: string;
  controller?: ControllerRef;
  kubeConfig?: KubeConfig;
  kubeconfigPath?: string;
  env?: Readonly<Record<string, string | undefined>>;
}

/** The PEM text from wherever kubeseal would get it: --cert (file or URL) or the controller in the cluster. */
export async function readCertificatePem(source: CertificateSource): Promise<string> {
  const cert = source.cert ?? nonEmpty(source.env?.SEALED_SECRETS_CERT);
  if (cert !== undefined && cert !== '') {
    return isFileName(cert) ? readCertificateFile(cert) : readCertificateUrl(cert);
  }
  const controller = source.controller ?? controllerFromEnv(source.env ?? {});
  const kubeConfig = source.kubeConfig ?? loadKubeConfig({ kubeconfigPath: source.kubeconfigPath, env: source.env });
  return fetchCertificateFromCluster(kubeConfig, controller);
}

export async function loadCertificate(source: CertificateSource, options: ParseCertificateOptions = {}): Promise<SealingCertificate> {
  return parseCertificate(await readCertificatePem(source), options);
}

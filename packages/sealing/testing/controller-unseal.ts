import { webcrypto } from 'node:crypto';
import { parse } from 'yaml';

/**
 * An independent unsealer for the tests, written from the controller's published behaviour rather than from
 * this package: WebCrypto (not the node:crypto stream APIs the package uses), label recomputed from the
 * SealedSecret's top-level metadata exactly as the controller does, every private key tried in turn.
 */
const subtle = webcrypto.subtle;

export class UnsealError extends Error {}

async function importPrivateKey(privateKeyPem: string): Promise<webcrypto.CryptoKey> {
  const body = privateKeyPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  return subtle.importKey('pkcs8', Buffer.from(body, 'base64'), { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['decrypt']);
}

export async function unsealValue(privateKeyPems: readonly string[], base64: string, label: string): Promise<Buffer> {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) throw new UnsealError('not standard padded base64');
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length < 2) throw new UnsealError('too short');
  const rsaLength = bytes.readUInt16BE(0);
  if (bytes.length < 2 + rsaLength) throw new UnsealError('too short');
  const wrapped = bytes.subarray(2, 2 + rsaLength);
  const sealed = bytes.subarray(2 + rsaLength);
  for (const pem of privateKeyPems) {
    let sessionKey: ArrayBuffer;
    try {
      sessionKey = await subtle.decrypt({ name: 'RSA-OAEP', label: new TextEncoder().encode(label) }, await importPrivateKey(pem), wrapped);
    } catch {
      continue;
    }
    const aesKey = await subtle.importKey('raw', sessionKey, { name: 'AES-GCM' }, false, ['decrypt']);
    try {
      const plain = await subtle.decrypt({ name: 'AES-GCM', iv: new Uint8Array(12), tagLength: 128 }, aesKey, sealed);
      return Buffer.from(plain);
    } catch {
      throw new UnsealError('AES-GCM authentication failed');
    }
  }
  throw new UnsealError('no private key could unwrap the session key with this label');
}

export function controllerLabel(metadata: { name?: string; namespace?: string; annotations?: Record<string, string> }): string {
  const annotations = metadata.annotations ?? {};
  if (annotations['sealedsecrets.bitnami.com/cluster-wide'] === 'true') return '';
  if (annotations['sealedsecrets.bitnami.com/namespace-wide'] === 'true') return metadata.namespace ?? '';
  return `${metadata.namespace ?? ''}/${metadata.name ?? ''}`;
}

/** Unseals a SealedSecret (YAML or JSON text, or a parsed object) into its raw values, or throws. */
export async function unsealSealedSecret(document: string | object, privateKeyPems: readonly string[]): Promise<Record<string, string>> {
  const object = (typeof document === 'string' ? parse(document) : document) as {
    kind?: string;
    metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> };
    spec?: { encryptedData?: Record<string, string> };
  };
  if (object.kind !== 'SealedSecret') throw new UnsealError('not a SealedSecret');
  const label = controllerLabel(object.metadata ?? {});
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(object.spec?.encryptedData ?? {})) {
    result[key] = (await unsealValue(privateKeyPems, value, label)).toString('utf8');
  }
  return result;
}

import { constants, createCipheriv, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { EncryptionError } from './errors.ts';

const SESSION_KEY_BYTES = 32;
const GCM_NONCE_BYTES = 12;

/**
 * The controller's hybrid scheme: a fresh AES-256 session key per value, wrapped with RSA-OAEP(SHA-256) under
 * the scope label. The zero nonce is safe only because each session key encrypts exactly one message.
 * Output: uint16 BE length of the RSA block || RSA block || AES-GCM ciphertext || 16-byte tag.
 */
export function hybridEncrypt(publicKey: KeyObject, plaintext: Uint8Array, label: string): Buffer {
  if (publicKey.asymmetricKeyType !== 'rsa') {
    throw new EncryptionError(`the sealing key must be RSA, got ${publicKey.asymmetricKeyType ?? 'unknown'}`);
  }
  const sessionKey = randomBytes(SESSION_KEY_BYTES);
  try {
    const wrappedKey = publicEncrypt(
      {
        key: publicKey,
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: 'sha256',
        oaepLabel: Buffer.from(label, 'utf8'),
      },
      sessionKey,
    );
    if (wrappedKey.length > 0xffff) {
      throw new EncryptionError('the RSA key is too large for the two-byte length prefix of the sealed format');
    }
    const cipher = createCipheriv('aes-256-gcm', sessionKey, Buffer.alloc(GCM_NONCE_BYTES));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16BE(wrappedKey.length, 0);
    return Buffer.concat([prefix, wrappedKey, body]);
  } finally {
    sessionKey.fill(0);
  }
}

/** One value of `spec.encryptedData`: the raw value (never its base64 from Secret.data), sealed and base64-encoded. */
export function sealValue(publicKey: KeyObject, value: string | Uint8Array, label: string): string {
  const plaintext = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return hybridEncrypt(publicKey, plaintext, label).toString('base64');
}

/**
 * Prints how long sealing takes with a controller-sized (RSA-4096) key: per value, per SealedSecret of eight
 * keys, and per in-place merge. Numbers only; no assertions.
 *
 *   pnpm exec tsx packages/sealing/bench/seal-bench.ts
 */
import { performance } from 'node:perf_hooks';
import { encryptData, generateSealingKeyPair, mergeIntoSealedSecret, parseCertificate, sealSecret, sealValue, toYaml } from '../src/index.ts';

function report(label: string, iterations: number, milliseconds: number): void {
  process.stdout.write(`${label}: ${(milliseconds / iterations).toFixed(3)} ms each (${iterations} runs, ${milliseconds.toFixed(0)} ms)\n`);
}

const keyStart = performance.now();
const pair = await generateSealingKeyPair({ keyBits: 4096, validDays: 30 });
report('RSA-4096 key pair + self-signed certificate', 1, performance.now() - keyStart);
const certificate = parseCertificate(pair.certificatePem);

// About the length of the database URLs in overlays/*/secrets.
const value = 'v'.repeat(120);
let start = performance.now();
const valueRuns = 2000;
for (let index = 0; index < valueRuns; index += 1) sealValue(certificate.publicKey, value, 'dbos/dbos-app-db');
report('seal one value', valueRuns, performance.now() - start);

const data = Object.fromEntries(Array.from({ length: 8 }, (_, index) => [`key-${index}`, value]));
start = performance.now();
const documentRuns = 200;
let text = '';
for (let index = 0; index < documentRuns; index += 1) {
  text = toYaml(sealSecret({ certificate, name: 'bench', namespace: 'dbos', data }));
}
report('SealedSecret with 8 keys, to YAML', documentRuns, performance.now() - start);

const target = { name: 'bench', namespace: 'dbos', scope: 'strict' as const };
const update = encryptData(certificate, target, { 'key-3': 'rotated', 'key-new': 'added' });
start = performance.now();
const mergeRuns = 500;
for (let index = 0; index < mergeRuns; index += 1) mergeIntoSealedSecret(text, target, update);
report('merge 2 keys into an 8-key file (parse, check, CST edit)', mergeRuns, performance.now() - start);

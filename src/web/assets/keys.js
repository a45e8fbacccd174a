// Ed25519 keys in the browser. WebCrypto's Ed25519 where the browser has
// it (every current browser), the private key stored in IndexedDB as a
// non-extractable CryptoKey: once the backup is written, no script can read
// the key's bytes again, only ask the browser to sign with it. Browsers
// without WebCrypto Ed25519 sign with the vendored noble-ed25519, and their
// key's seed is stored as bytes (the page says so).
//
// Backups are key files exactly as `consentry keygen` writes them
// (spec/keys.md): PEM "PRIVATE KEY" of the 48-byte PKCS#8 v1 DER, so a key
// moves between the CLI and the web app both ways.

import * as noble from './vendor/noble-ed25519.js';
import { base64, fromBase64, hex, fromHex } from './dsse.js';

// 302e020100300506032b657004220420 ‖ seed (spec/keys.md §1).
const PKCS8_PREFIX = fromHex('302e020100300506032b657004220420');
// Version 2 (with the public key, spec/keys.md §2): 3053020101300506032b657004220420 ‖ seed ‖ a123032100 ‖ public.
const PKCS8_V2_PREFIX = fromHex('3053020101300506032b657004220420');
const PKCS8_V2_MIDDLE = fromHex('a123032100');

const DB_NAME = 'consentry';
const STORE = 'keys';

let webCryptoEd25519;

/** Whether the browser signs Ed25519 itself. */
export async function hasWebCryptoEd25519() {
  if (webCryptoEd25519 === undefined) {
    try {
      await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
      webCryptoEd25519 = true;
    } catch {
      webCryptoEd25519 = false;
    }
  }
  return webCryptoEd25519;
}

function b64url(bytes) {
  return base64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function pkcs8OfSeed(seed) {
  const der = new Uint8Array(48);
  der.set(PKCS8_PREFIX, 0);
  der.set(seed, 16);
  return der;
}

/** The key file of a seed, byte for byte as `consentry keygen` writes it. */
export function pemOfSeed(seed) {
  return `-----BEGIN PRIVATE KEY-----\n${base64(pkcs8OfSeed(seed))}\n-----END PRIVATE KEY-----\n`;
}

function equal(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * The seed (and, for version 2 files, the public key they declare) of a
 * key file; throws an Error saying what is wrong otherwise.
 */
export function parseKeyFile(text) {
  const m = /^\s*-----BEGIN PRIVATE KEY-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END PRIVATE KEY-----\s*$/.exec(text);
  if (!m) {
    if (/ENCRYPTED PRIVATE KEY/.test(text)) {
      throw new Error('this key file is encrypted; Consentry key files are not (export it unencrypted, e.g. with openssl pkey)');
    }
    throw new Error('this is not an Ed25519 PKCS#8 PEM key (a file that starts with -----BEGIN PRIVATE KEY-----, as consentry keygen writes)');
  }
  let der;
  try {
    der = fromBase64(m[1].replace(/\s+/g, ''));
  } catch {
    throw new Error('the key file\'s base64 is damaged');
  }
  if (der.length === 48 && equal(der.subarray(0, 16), PKCS8_PREFIX)) {
    return { seed: der.slice(16), declaredPublic: null };
  }
  if (der.length === 85 && equal(der.subarray(0, 16), PKCS8_V2_PREFIX) && equal(der.subarray(48, 53), PKCS8_V2_MIDDLE)) {
    return { seed: der.slice(16, 48), declaredPublic: der.slice(53) };
  }
  throw new Error('this is not an Ed25519 PKCS#8 PEM key (another algorithm, or a form this registry does not read)');
}

/** The public key of a seed (RFC 8032 §5.1.5). */
async function publicOfSeed(seed) {
  if (await hasWebCryptoEd25519()) {
    const k = await crypto.subtle.importKey('pkcs8', pkcs8OfSeed(seed), { name: 'Ed25519' }, true, ['sign']);
    const jwk = await crypto.subtle.exportKey('jwk', k);
    return fromBase64(jwk.x);
  }
  return noble.getPublicKeyAsync(seed);
}

/** A key record as stored: what signs, and its public half. */
async function recordOfSeed(seed, label) {
  const publicKey = await publicOfSeed(seed);
  const keyId = `ed25519:${hex(publicKey)}`;
  if (await hasWebCryptoEd25519()) {
    const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8OfSeed(seed), { name: 'Ed25519' }, false, ['sign']);
    return { keyId, label, privateKey, created: new Date().toISOString() };
  }
  return { keyId, label, seed: b64url(seed), created: new Date().toISOString() };
}

/**
 * A new key: its record (stored) and its key file (shown once, to save).
 */
export async function generateKey(label) {
  let seed;
  if (await hasWebCryptoEd25519()) {
    const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
    const jwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
    seed = fromBase64(jwk.d);
  } else {
    seed = noble.utils.randomPrivateKey();
  }
  const record = await recordOfSeed(seed, label);
  const pem = pemOfSeed(seed);
  seed.fill(0);
  return { record, pem };
}

/** The key of a key file's text; the file's declared public key must match. */
export async function importKeyFile(text, label) {
  const { seed, declaredPublic } = parseKeyFile(text);
  const record = await recordOfSeed(seed, label);
  seed.fill(0);
  if (declaredPublic && record.keyId !== `ed25519:${hex(declaredPublic)}`) {
    throw new Error('the key file\'s public key is not the one its private key derives; the file is damaged');
  }
  return record;
}

/** A signer for envelopes: `{keyId, sign(bytes) → 64 bytes}`. */
export function signer(record) {
  return {
    keyId: record.keyId,
    async sign(bytes) {
      if (record.privateKey) {
        return new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, record.privateKey, bytes));
      }
      return noble.signAsync(bytes, fromBase64(record.seed));
    },
  };
}

// ---- storage -------------------------------------------------------------

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'keyId' });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new Error(`this browser cannot store keys: ${req.error}`));
  });
}

async function tx(mode, f) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const t = db.transaction(STORE, mode);
    const result = f(t.objectStore(STORE));
    t.oncomplete = () => resolve(result.result);
    t.onerror = () => reject(new Error(`key storage failed: ${t.error}`));
  });
}

export function saveKey(record) {
  return tx('readwrite', (s) => s.put(record));
}

export function deleteKey(keyId) {
  return tx('readwrite', (s) => s.delete(keyId));
}

export async function listKeys() {
  const all = await tx('readonly', (s) => s.getAll());
  return (all || []).sort((a, b) => a.created.localeCompare(b.created));
}

/** The account this browser signs in as: {artistId, keyId, displayName}. */
export function account() {
  try {
    return JSON.parse(localStorage.getItem('consentry.account') || 'null');
  } catch {
    return null;
  }
}

export function setAccount(value) {
  if (value) localStorage.setItem('consentry.account', JSON.stringify(value));
  else localStorage.removeItem('consentry.account');
}

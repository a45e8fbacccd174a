// The registry's REST API (openapi.yaml), as the page uses it. Every
// refusal becomes an ApiProblem carrying the RFC 9457 body, and
// `explain` puts each problem type in words.

import { PAYLOAD_TYPES, pae, utf8, base64 } from './dsse.js';

export class ApiProblem extends Error {
  constructor(status, body) {
    const slug = (body && typeof body.type === 'string' ? body.type : '').replace('urn:consentry:problem:', '');
    super((body && (body.detail || body.title)) || `the registry answered ${status}`);
    this.status = status;
    this.slug = slug || `http-${status}`;
    this.title = body && body.title;
    this.detail = body && body.detail;
    this.errors = (body && Array.isArray(body.errors)) ? body.errors : [];
  }
}

// What each problem means for the person in front of the page.
const WORDS = {
  'malformed-json': 'The page sent something the registry could not read.',
  'malformed-body': 'The page sent something the registry could not read.',
  'malformed-envelope': 'A signed document was not put together correctly.',
  'bad-base64': 'A signed document was not encoded correctly.',
  'empty-batch': 'There was nothing to send.',
  'wrong-payload-type': 'A signed document was of the wrong kind.',
  'invalid-key': 'That is not a valid Ed25519 public key.',
  'bad-signature': 'A signature did not verify: the key that signed is not the one named.',
  'invalid-payload': 'The registry refused the statement\'s content.',
  'key-mismatch': 'The document names a different key than the one that signed it.',
  'unknown-key': 'The registry does not know this key: register as an artist first, or restore the key you registered with.',
  'revoked-key': 'This key has been revoked; it can no longer sign for you.',
  'issued-in-future': 'Your computer\'s clock is ahead of the registry\'s. Set the clock right and try again.',
  forbidden: 'This key may not do that.',
  'not-found': 'The registry has no record of it.',
  'stale-statement': 'You already made a newer statement about this work.',
  'key-in-use': 'This key is already registered (to you or someone else). Restore it instead of registering again.',
  'already-revoked': 'That key is already revoked.',
  'too-many-items': 'Too much at once; send fewer works per batch.',
  'payload-too-large': 'The request is larger than the registry accepts.',
  unauthorized: 'You are not signed in, or your sign-in expired. Sign in again.',
  'invalid-parameter': 'A value in the request is not valid.',
  'invalid-hash': 'That is not a work hash (blake3: followed by 64 hex digits).',
  'rate-limited': 'Too many requests: the page waits and retries.',
  'too-many-requests': 'Too many requests: the page waits and retries.',
  timeout: 'The registry took too long to answer.',
  'unsupported-media-type': 'The page sent a body in a format the registry does not take.',
  internal: 'The registry failed. Try again later.',
};

/** One sentence or two for a problem, for people. */
export function explain(err) {
  if (err instanceof ApiProblem) {
    const words = WORDS[err.slug] || `The registry refused the request (${err.slug}).`;
    const detail = err.detail ? ` ${err.detail}` : '';
    const rows = err.errors.slice(0, 5).map((e) => ` [#${e.index}] ${e.detail || e.type || ''}`).join(';');
    return `${words}${detail}${rows}`;
  }
  if (err instanceof TypeError) return `The registry could not be reached (${err.message}).`;
  return err && err.message ? err.message : String(err);
}

let clockOffsetMs = 0;

/** The registry's clock minus ours (ms), from the last answer's Date. */
export function clockOffset() {
  return clockOffsetMs;
}

/** Calls the API; the parsed JSON body, or throws ApiProblem. */
export async function call(method, path, { body, token, retries = 3 } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
    const date = Date.parse(response.headers.get('Date') || '');
    if (!Number.isNaN(date)) clockOffsetMs = date + 500 - Date.now();
    if (response.status === 429 && attempt < retries) {
      const wait = Math.min(30, Number(response.headers.get('Retry-After')) || 1);
      await new Promise((r) => setTimeout(r, wait * 1000));
      continue;
    }
    const type = response.headers.get('Content-Type') || '';
    const parsed = type.includes('json') ? await response.json().catch(() => null) : await response.text();
    if (!response.ok) throw new ApiProblem(response.status, typeof parsed === 'object' ? parsed : null);
    return parsed;
  }
}

/** A session for one key: a token obtained by the challenge, renewed before it expires. */
export class Session {
  constructor(signer) {
    this.signer = signer;
    this.token = null;
    this.expires = 0;
    this.claims = null;
  }

  async signIn() {
    if (this.token && Date.now() < this.expires - 60_000) return this.token;
    const { challenge } = await call('POST', '/v1/auth/challenge', { body: { key: this.signer.keyId } });
    const signature = await this.signer.sign(pae(PAYLOAD_TYPES.authChallenge, utf8(challenge)));
    const answer = await call('POST', '/v1/auth/token', {
      body: { key: this.signer.keyId, challenge, signature: base64(signature) },
    });
    this.token = answer.token;
    const until = Date.parse(answer.expires_at) - clockOffsetMs;
    this.expires = Number.isNaN(until) ? Date.now() + 600_000 : until;
    this.claims = answer;
    return this.token;
  }

  async call(method, path, body) {
    const token = await this.signIn();
    try {
      return await call(method, path, { body, token });
    } catch (e) {
      if (e instanceof ApiProblem && e.status === 401) {
        this.token = null;
        return call(method, path, { body, token: await this.signIn() });
      }
      throw e;
    }
  }
}

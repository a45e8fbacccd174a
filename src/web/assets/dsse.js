// Signed documents as spec/statement.md defines them: DSSE envelopes over
// the pre-authentication encoding (§3.5), standard padded base64 (§3.3),
// key ids (§2), document ids (§8) and timestamps (§5.7).

export const PAYLOAD_TYPES = {
  statement: 'application/vnd.consentry.statement.v1+json',
  artist: 'application/vnd.consentry.artist.v1+json',
  keyEvent: 'application/vnd.consentry.key-event.v1+json',
  authChallenge: 'application/vnd.consentry.auth-challenge.v1',
};

const encoder = new TextEncoder();

export function utf8(text) {
  return encoder.encode(text);
}

export function hex(bytes) {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

export function fromHex(text) {
  if (!/^(?:[0-9a-f]{2})*$/.test(text)) throw new Error('not lowercase hex');
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Standard base64 with padding (RFC 4648 §4), as the registry writes it. */
export function base64(bytes) {
  let binary = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

/** Decodes standard or URL-safe base64, padded or not. */
export function fromBase64(text) {
  const std = text.replace(/-/g, '+').replace(/_/g, '/');
  const padded = std + '='.repeat((4 - (std.length % 4)) % 4);
  const binary = atob(padded);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** PAE(T, P) = "DSSEv1" SP LEN(T) SP T SP LEN(P) SP P (§3.5). */
export function pae(payloadType, payload) {
  const type = utf8(payloadType);
  const head = utf8(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}

/** The lowercase hex SHA-256 of the payload bytes: the document id (§8). */
export async function documentId(payload) {
  return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', payload)));
}

/**
 * A DSSE envelope of `payloadType` over the JSON text of `payload`, signed
 * by each of `signers` (objects with `keyId` and `sign(bytes)`), and the
 * payload bytes. The payload is serialised once; the signature and the
 * document id cover exactly those bytes.
 */
export async function signEnvelope(payloadType, payload, signers) {
  const bytes = utf8(JSON.stringify(payload));
  const message = pae(payloadType, bytes);
  const signatures = [];
  for (const signer of signers) {
    signatures.push({ keyid: signer.keyId, sig: base64(await signer.sign(message)) });
  }
  return {
    envelope: { payloadType, payload: base64(bytes), signatures },
    id: await documentId(bytes),
  };
}

/** The payload of an envelope the registry returned, parsed. */
export function envelopePayload(envelope) {
  return JSON.parse(new TextDecoder().decode(fromBase64(envelope.payload)));
}

let lastIssued = 0;

/**
 * A Timestamp (§5.7) for a new document: now, in milliseconds, corrected
 * by the registry's clock when ours runs ahead of it (a document issued in
 * the registry's future is refused), and strictly later than the previous
 * one this page made (a newer statement must be issued later).
 */
export function issuedAt(clockOffsetMs = 0) {
  let now = Date.now();
  if (clockOffsetMs < 0) now += clockOffsetMs;
  if (now <= lastIssued) now = lastIssued + 1;
  lastIssued = now;
  return new Date(now).toISOString();
}

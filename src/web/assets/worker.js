// Hashes and fingerprints files off the page's main thread: BLAKE3 of the
// exact bytes (the registry's content hash, spec/statement.md §5.8, with
// hash-wasm's WebAssembly build of the BLAKE3 reference C code) and, for
// images, the ISCC Image-Codes `consentry register` signs.

import './vendor/blake3.umd.min.js';
import { decodeImage, registeredCodes, namedAsImage, MAX_FILE_BYTES } from './fingerprint.js';

const CHUNK = 16 * 1024 * 1024;
// Hashers not in use. Files are hashed concurrently (one is read while
// another is hashed), and a hasher holds one file's state from init to
// digest, so each file takes its own.
const idle = [];

async function blake3(file) {
  const h = idle.pop() || await globalThis.hashwasm.createBLAKE3(256);
  try {
    if (file.size <= CHUNK) {
      const bytes = new Uint8Array(await file.arrayBuffer());
      h.init();
      h.update(bytes);
    } else {
      h.init();
      for (let offset = 0; offset < file.size; offset += CHUNK) {
        h.update(new Uint8Array(await file.slice(offset, offset + CHUNK).arrayBuffer()));
      }
    }
    return `blake3:${h.digest('hex')}`;
  } finally {
    idle.push(h);
  }
}

// The files `consentry register` fingerprints: by name, at most 256 MiB.
function looksLikeImage(file) {
  return namedAsImage(file.name || '') && file.size <= MAX_FILE_BYTES;
}

self.onmessage = async (event) => {
  const { id, file, fingerprint } = event.data;
  try {
    const hash = await blake3(file);
    let codes = null;
    let note = null;
    if (fingerprint && looksLikeImage(file)) {
      try {
        codes = registeredCodes(await decodeImage(file));
      } catch (e) {
        note = `no fingerprint (${e.message}): registered by its bytes only`;
      }
    }
    self.postMessage({ id, hash, codes, note });
  } catch (e) {
    self.postMessage({ id, error: `could not read the file: ${e.message}` });
  }
};

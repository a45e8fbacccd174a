// Hashes and fingerprints files off the page's main thread: BLAKE3 of the
// exact bytes (the registry's content hash, spec/statement.md §5.8, with
// hash-wasm's WebAssembly build of the BLAKE3 reference C code) and, for
// images, the ISCC Image-Codes `consentry register` signs.

import './vendor/blake3.umd.min.js';
import { decodeImage, registeredCodes, namedAsImage, MAX_FILE_BYTES } from './fingerprint.js';

const CHUNK = 16 * 1024 * 1024;
let hasherPromise;

function hasher() {
  if (!hasherPromise) hasherPromise = globalThis.hashwasm.createBLAKE3(256);
  return hasherPromise;
}

async function blake3(file) {
  const h = await hasher();
  h.init();
  if (file.size <= CHUNK) {
    h.update(new Uint8Array(await file.arrayBuffer()));
  } else {
    for (let offset = 0; offset < file.size; offset += CHUNK) {
      h.update(new Uint8Array(await file.slice(offset, offset + CHUNK).arrayBuffer()));
    }
  }
  return `blake3:${h.digest('hex')}`;
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

"""What the page computes that the registry also computes, in Chromium:
key files (spec/keys.md's worked example), PAE and signatures (every valid
statement vector of spec/vectors/statements.json whose key is one of the
vectors' fixed seeds, re-signed byte for byte), document ids, and BLAKE3
content hashes of files against Python's blake3 (the registry's hash)."""

from __future__ import annotations

import base64
import hashlib
import json

import blake3

from conftest import ROOT

IMPORTS = """
const done = arguments[arguments.length - 1];
Promise.all([import('/assets/keys.js'), import('/assets/dsse.js')]).then(async ([keys, dsse]) => {
  try { done(await (async () => { %s })()); } catch (e) { done({error: String(e && e.stack || e)}); }
}, (e) => done({error: String(e)}));
"""


def b64(text: str) -> bytes:
    """Standard or URL-safe base64, padded or not (spec/statement.md §3.3)."""
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4))


def run(driver, body: str):
    out = driver.execute_async_script(IMPORTS % body)
    assert not (isinstance(out, dict) and "error" in out), out
    return out


def test_keys_signatures_and_ids_equal_the_spec(driver, base_url):
    driver.get(base_url + "/")
    assert run(driver, "return await keys.hasWebCryptoEd25519();") is True
    pem = run(driver, "return keys.pemOfSeed(new Uint8Array(32).fill(7));")
    assert pem == ("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH\n"
                   "-----END PRIVATE KEY-----\n")
    key_id = run(driver, "return (await keys.importKeyFile(keys.pemOfSeed(new Uint8Array(32).fill(7)), 't')).keyId;")
    assert key_id == "ed25519:ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
    # The same key read through the fallback signer gives the same signatures.
    assert run(driver, "return dsse.utf8 && new TextDecoder().decode(dsse.pae('http://example.com/HelloWorld', dsse.utf8('hello world')));") \
        == "DSSEv1 29 http://example.com/HelloWorld 11 hello world"

    vectors = json.loads((ROOT / "spec/vectors/statements.json").read_text())["vectors"]
    seeds = {}
    for seed in (0x11, 0x22):
        kid = run(driver, f"return (await keys.importKeyFile(keys.pemOfSeed(new Uint8Array(32).fill({seed})), 's')).keyId;")
        seeds[kid.removeprefix("ed25519:")] = seed
    chosen = [v for v in vectors if v["valid"] and v["public_key_hex"] in seeds]
    assert len(chosen) >= 5, "the vectors have valid statements by the fixed seeds"
    got = run(driver, """
      const vs = %s; const out = [];
      for (const v of vs) {
        const rec = await keys.importKeyFile(keys.pemOfSeed(new Uint8Array(32).fill(v.seed)), 'v');
        const payload = dsse.fromBase64(v.payload_b64);
        const sig = await keys.signer(rec).sign(dsse.pae(v.payload_type, payload));
        out.push([dsse.base64(sig), await dsse.documentId(payload)]);
      }
      return out;""" % json.dumps([dict(v, seed=seeds[v["public_key_hex"]]) for v in chosen]))
    for v, (sig, doc_id) in zip(chosen, got):
        assert base64.b64decode(sig) == b64(v["signature_b64"]), v["description"]
        assert doc_id == hashlib.sha256(b64(v["payload_b64"])).hexdigest(), v["description"]

    # A key file with the public key (version 2) is read; a wrong one is refused.
    v2 = run(driver, """
      const seed = new Uint8Array(32).fill(7);
      const rec = await keys.importKeyFile(keys.pemOfSeed(seed), 'x');
      const pub = dsse.fromHex(rec.keyId.slice(8));
      const der = new Uint8Array(85);
      der.set(dsse.fromHex('3053020101300506032b657004220420'), 0); der.set(seed, 16);
      der.set(dsse.fromHex('a123032100'), 48); der.set(pub, 53);
      const ok = (await keys.importKeyFile(`-----BEGIN PRIVATE KEY-----\\n${dsse.base64(der)}\\n-----END PRIVATE KEY-----\\n`, 'y')).keyId;
      der[84] ^= 1;
      try { await keys.importKeyFile(`-----BEGIN PRIVATE KEY-----\\n${dsse.base64(der)}\\n-----END PRIVATE KEY-----\\n`, 'z'); return [ok, 'accepted']; }
      catch (e) { return [ok, e.message]; }""")
    assert v2[0] == key_id and "not the one its private key derives" in v2[1]


def test_content_hashes_equal_blake3(driver, base_url):
    """The workers' BLAKE3 (hash-wasm) equals the registry's on sizes around
    its chunk boundaries."""
    driver.get(base_url + "/")
    sizes = [0, 1, 1023, 1024, 1025, 64 * 1024 + 7, 16 * 1024 * 1024, 16 * 1024 * 1024 + 1, 40 * 1024 * 1024 + 3]
    got = driver.execute_async_script("""
      const [sizes, seeds, done] = arguments;
      import('/assets/works.js').then(async (w) => {
        const files = sizes.map((n, i) => {
          const b = new Uint8Array(n);
          let x = seeds[i];
          for (let j = 0; j < n; j += 4096) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; b[j] = x & 255; }
          return new File([b], `f${i}.bin`);
        });
        const r = await w.hashFiles(files, {fingerprint: false});
        done(r.map((x) => x.hash));
      }, (e) => done([String(e)]));""", sizes, list(range(1, len(sizes) + 1)))
    for i, n in enumerate(sizes):
        b = bytearray(n)
        x = i + 1
        for j in range(0, n, 4096):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF
            b[j] = x & 255
        assert got[i] == "blake3:" + blake3.blake3(bytes(b)).hexdigest(), f"size {n}"

"""The client against a live registry, on SQLite and PostgreSQL: keys,
signing in, checks of every kind of item, near matching, as-of, disputes,
terms, tables, receipts, the artists' side, and every error case."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time

import blake3
import pytest
from PIL import Image

import consentry
from consentry.items import hash_text

from conftest import Server, encode, free_port, picture


def h(data: bytes) -> str:
    return hash_text(blake3.blake3(data).digest())


# -- keys -------------------------------------------------------------------


def test_the_spec_example_key_loads_with_its_public_key(tmp_path):
    path = tmp_path / "seed7.key"
    path.write_text("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH\n"
                    "-----END PRIVATE KEY-----\n")
    key = consentry.load_key(path)
    assert key.id == "ed25519:ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
    assert key.pem() == path.read_text()
    assert "BEGIN" not in repr(key)


def test_keys_written_by_consentry_keygen_load_and_ours_are_the_same_format(consentry_bin, tmp_path):
    import subprocess

    out = subprocess.run([str(consentry_bin), "keygen", "--out", str(tmp_path / "cli.key")],
                         capture_output=True, text=True, check=True)
    key = consentry.load_key(tmp_path / "cli.key")
    assert key.id in out.stdout + out.stderr
    ours = consentry.generate_key(tmp_path / "py.key")
    assert (tmp_path / "py.key").stat().st_mode & 0o777 == 0o600
    text = (tmp_path / "py.key").read_text()
    assert text.startswith("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI") and len(text.splitlines()) == 3
    assert consentry.load_key(tmp_path / "py.key").id == ours.id
    with pytest.raises(FileExistsError):
        consentry.generate_key(tmp_path / "py.key")


def test_other_key_files_are_refused(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, ec

    cases = {
        "encrypted": ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret")),
        "ecdsa": ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        "raw seed": b"07" * 32,
        "damaged": b"-----BEGIN PRIVATE KEY-----\nMC4CAQAw!!!\n-----END PRIVATE KEY-----\n",
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(consentry.KeyFileError, match="not an Ed25519 PKCS#8 PEM key"):
            consentry.load_key(path)
    # Version 2 with a public key that is not the seed's.
    import base64

    seed = bytes([7]) * 32
    other = consentry.Key.from_seed(bytes([8]) * 32).public_bytes
    der = bytes.fromhex("3051020101300506032b657004220420") + seed + bytes.fromhex("812100") + other
    path = tmp_path / "v2"
    path.write_text(f"-----BEGIN PRIVATE KEY-----\n{base64.b64encode(der).decode()}\n-----END PRIVATE KEY-----\n")
    with pytest.raises(consentry.KeyFileError, match="not the one its private key derives"):
        consentry.load_key(path)
    good = bytes.fromhex("3051020101300506032b657004220420") + seed + bytes.fromhex("812100") + \
        consentry.Key.from_seed(seed).public_bytes
    path.write_text(f"-----BEGIN PRIVATE KEY-----\n{base64.b64encode(good).decode()}\n-----END PRIVATE KEY-----\n")
    assert consentry.load_key(path).id.startswith("ed25519:ea4a6c63")


# -- checks -------------------------------------------------------------------


def test_a_builder_checks_hashes_files_bytes_and_images(server, builder, artist, tmp_path):
    imgs = [picture(1000 + i) for i in range(5)]
    files = []
    for i, img in enumerate(imgs):
        p = tmp_path / f"w{i}.png"
        p.write_bytes(encode(img))
        files.append(p)
    artist.register(files[:2], "opt-out", titles=["First", "Second"])
    artist.register([files[2]], "opt-in", terms=[{"kind": "attribution", "credit": "Ana Test"}])
    artist.register([files[3]], {"train-genai": "disallowed", "search": "allowed"})
    # files[4] stays unregistered.
    resized = encode(imgs[0].resize((128, 96), Image.LANCZOS), "JPEG", quality=85)
    items = [
        h(files[0].read_bytes()),          # a hash string
        str(files[1]),                      # a path as str
        files[2].read_bytes(),              # bytes
        Image.open(files[3]),               # a decoded image: near only
        files[4],                           # a Path, unregistered
        resized,                            # a re-encoded, resized copy of w0
    ]
    run = builder.check(items, "train-genai", near=True)
    answers = run.answers()
    assert [a.status for a in answers] == ["disallowed", "disallowed", "allowed", "disallowed", "unknown",
                                           "disallowed"]
    assert [a.match for a in answers] == ["exact", "exact", "exact", "near", None, "near"]
    assert answers[0].item is items[0] and answers[4].item is items[4]
    assert answers[3].hash is None and answers[3].matched[0][0] == h(files[3].read_bytes())
    assert answers[5].matched[0][0] == h(files[0].read_bytes()) and answers[5].matched[0][1] <= 8
    assert answers[2].terms == [{"artist_id": artist.subject, "terms": [{"kind": "attribution",
                                                                          "credit": "Ana Test"}]}]
    assert answers[4].permits(unknown=True) and not answers[4].permits(unknown=False)
    assert not answers[0].permits(unknown=True)
    # The receipt: verified, version 2 (near matching), bound to these answers.
    assert run.receipt is not None and run.done["count"] == 6
    assert run.done["counts"] == {"allowed": 1, "disallowed": 4, "unknown": 1}
    receipt = consentry.verify_receipt(run.receipt, builder.verifier_key)
    assert receipt.version == 2 and receipt.purpose == "train-genai" and receipt.builder == builder.subject
    # For search, w3 is allowed.
    run = builder.check([files[3]], "search")
    assert [a.status for a in run] == ["allowed"]


def test_hash_only_checks_go_as_raw_records_and_get_a_version_1_receipt(server, builder, artist, pictures):
    artist.register(pictures[:3], "opt-out")
    registered = [h(p.read_bytes()) for p in pictures[:3]]
    hashes = registered + [h(str(i).encode()) for i in range(2000)] + registered
    run = builder.check(iter(hashes), "train-ai")
    assert not run.near
    statuses = [a.status for a in run]
    assert statuses[:3] == statuses[-3:] == ["disallowed"] * 3
    assert set(statuses[3:-3]) == {"unknown"}
    receipt = consentry.verify_receipt(run.receipt, builder.verifier_key)
    assert receipt.version == 1
    assert run.done["count"] == len(hashes)


def test_as_of_answers_the_consent_at_that_instant(server, builder, artist, pictures):
    work = pictures[0]
    artist.register([work], "opt-in")
    between = dt.datetime.now(dt.timezone.utc)
    time.sleep(0.05)
    artist.set_consent([h(work.read_bytes())], "opt-out")
    assert [a.status for a in builder.check([work], "train-ai", as_of=between)] == ["allowed"]
    assert [a.status for a in builder.check([work], "train-ai")] == ["disallowed"]
    before = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    run = builder.check([work], "train-ai", as_of=before)
    assert [a.status for a in run] == ["unknown"]
    assert consentry.verify_receipt(run.receipt, builder.verifier_key).as_of == "2020-01-01T00:00:00Z"
    history = builder.work(h(work.read_bytes()))
    assert history is not None and len(history["history"]) == 2


def test_a_disputed_work_is_disallowed_with_both_claimants(server, builder, artist, pictures):
    other = server.new_artist("Another Artist")
    artist.register([pictures[0]], "opt-in")
    other.register([pictures[0]], "opt-out")
    (answer,) = builder.check([pictures[0]], "train-genai")
    assert answer.status == "disallowed" and answer.disputed
    assert {c["artist_id"] for c in answer.claimants} == {artist.subject, other.subject}
    assert len(answer.statements) == 2


def test_answers_as_pandas_and_arrow_tables(server, builder, artist, pictures):
    artist.register(pictures[:2], "opt-out")
    df = builder.check(pictures[:4], "train-genai").to_pandas()
    assert list(df["status"]) == ["disallowed", "disallowed", "unknown", "unknown"]
    assert list(df["item"]) == [str(p) for p in pictures[:4]]
    assert {"hash", "match", "distance", "claimants", "terms", "statements"} <= set(df.columns)
    table = builder.check(pictures[:4], "train-genai").to_arrow()
    assert table.num_rows == 4 and table.column("status").to_pylist() == list(df["status"])


def test_every_spelling_of_a_hash_and_hugging_face_image_values(server, builder, artist, pictures):
    artist.register(pictures[:1], "opt-out")
    digest = blake3.blake3(pictures[0].read_bytes()).hexdigest()
    spellings = ["blake3:" + digest, "1e20" + digest, digest]
    assert [a.status for a in builder.check(spellings, "train-ai")] == ["disallowed"] * 3
    values = [{"bytes": pictures[0].read_bytes(), "path": None}, {"bytes": None, "path": str(pictures[0])}]
    answers = builder.check(values, "train-ai").answers()
    assert [(a.status, a.match, a.item) for a in answers] == [("disallowed", "exact", v) for v in values]
    with pytest.raises(consentry.ItemError, match="item 0 .*neither a work hash"):
        list(builder.check(["blake3:" + digest.upper()], "train-ai"))


def test_a_run_is_iterated_once(server, builder, pictures):
    run = builder.check(pictures[:1], "tdm")
    list(run)
    with pytest.raises(consentry.ConsentryError, match="iterated once"):
        list(run)


def test_artists_register_change_consent_and_keep_history(server, artist, builder, pictures):
    results = artist.register(pictures[:2], {"train-ai": "disallowed", "search": "allowed"},
                              titles=["Dawn", None])
    assert [r["status"] for r in results] == ["created", "created"]
    work = builder.work(h(pictures[0].read_bytes()))
    assert work["consent"]["train-ai"] == "disallowed" and work["consent"]["search"] == "allowed"
    # The statement is signed with every code `consentry register` signs.
    doc = builder.transport.request("GET", f"/v1/documents/{results[0]['id']}")
    payload = json.loads(base64.b64decode(doc["envelope"]["payload"] if "envelope" in doc else doc["payload"]))
    assert payload["works"][0]["title"] == "Dawn"
    assert [f["value"] for f in payload["works"][0]["fingerprints"]] == \
        consentry.image_codes(pictures[0].read_bytes())
    artist.set_consent([h(pictures[0].read_bytes())], "opt-in", terms=[{"kind": "revenue-share"}])
    work = builder.work(h(pictures[0].read_bytes()))
    assert work["consent"]["train-ai"] == "allowed" and len(work["history"]) == 2
    near = builder.near(consentry.image_codes(pictures[1].read_bytes(), views=False))
    assert near["matched"][0] == {"hash": h(pictures[1].read_bytes()), "distance": 0}


# -- errors -------------------------------------------------------------------


def test_a_registry_that_is_down_raises_and_answers_nothing(tmp_path):
    key = consentry.generate_key(tmp_path / "k")
    down = consentry.Registry(f"http://127.0.0.1:{free_port()}", key=key)
    with pytest.raises(consentry.RegistryUnreachable, match="connection refused"):
        list(down.check(["blake3:" + "0" * 64], "train-ai"))


def test_refusals_carry_the_problem_type_and_detail(server, builder, artist, pictures):
    with pytest.raises(ValueError, match="unknown purpose"):
        builder.check(pictures[:1], "training")
    with pytest.raises(consentry.Problem) as e:
        list(builder.check(pictures[:1], "train-ai", as_of="yesterday"))
    assert e.value.status == 400 and e.value.slug == "invalid-as-of" and e.value.detail
    with pytest.raises(consentry.Problem) as e:
        list(artist.check(pictures[:1], "train-ai"))
    assert e.value.status == 403 and e.value.slug == "forbidden"
    stranger = consentry.Registry(server.url, key=consentry.Key.from_seed(bytes(range(32))))
    with pytest.raises(consentry.Problem, match="unknown-key") as e:
        stranger.sign_in()
    assert "builder create" in str(e.value)
    with pytest.raises(consentry.Problem) as e:
        artist.register(pictures[:1], {"train-ai": "disallowed", "train-genai": "allowed"})
    assert e.value.slug == "invalid-payload"


def test_bad_items_raise_with_their_index(server, builder, pictures, tmp_path):
    with pytest.raises(consentry.ItemError, match="item 1 .*neither a work hash"):
        list(builder.check([pictures[0], str(tmp_path / "missing.png")], "train-ai"))
    with pytest.raises(consentry.ItemError, match="item 0 .*not an item"):
        list(builder.check([12345], "train-ai"))
    with pytest.raises(consentry.ItemError, match="near=True"):
        list(builder.check([Image.new("RGB", (64, 64))], "train-ai", near=False))


def test_an_expired_token_is_renewed_transparently(server, builder, pictures):
    builder.sign_in()
    builder._token = builder._token[:-4] + "AAAA"  # a token the registry refuses
    answers = builder.check(pictures[:2], "train-ai").answers()
    assert len(answers) == 2
    builder._token = "not.a.token"
    builder._token_expiry = time.time() + 3600
    assert builder._authed("GET", "/v1/log", context="log")["verifier_key"]


@pytest.fixture(params=["sqlite", "postgres"])
def strict_server(request, consentry_bin, tmp_path):
    srv = Server(request.param, tmp_path, "--streams-per-builder", "1", "--rate-limit", "1", "--rate-burst", "2")
    yield srv
    srv.stop()


def test_rate_limits_are_waited_out_after_retry_after(strict_server, pictures):
    _, key = strict_server.new_builder()
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        time.sleep(s)

    first = consentry.Registry(strict_server.url, key=key)
    second = consentry.Registry(strict_server.url, key=key, sleep=sleep, max_retries=60)
    # One stream open (the builder may hold one): the second waits for it.
    hashes = [h(str(i).encode()) for i in range(300_000)]
    it = iter(first.check(hashes, "train-ai"))
    next(it)
    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(second.check(pictures[:2], "train-ai").answers()))
    t.start()
    time.sleep(1.5)
    rest = sum(1 for _ in it)
    t.join(60)
    assert rest == len(hashes) - 1
    assert len(result) == 1 and len(result[0]) == 2
    assert sleeps and all(s >= 1 for s in sleeps)
    # Requests over the token's rate: retried, then given up when retries run out.
    artist = strict_server.new_artist()
    artist.transport.sleep = sleep
    for p in pictures[:4]:
        artist.register([p], "opt-out")
    impatient = consentry.Registry(strict_server.url, key=artist.key, max_retries=0)
    impatient._token, impatient._token_expiry = artist._token, artist._token_expiry
    with pytest.raises(consentry.RateLimited) as e:
        for p in pictures[4:10]:
            impatient.register([p], "opt-out")
    assert e.value.status == 429 and e.value.retry_after >= 1


def test_a_registry_that_dies_midway_raises_and_gives_no_receipt(consentry_bin, tmp_path):
    srv = Server("sqlite", tmp_path)
    try:
        _, key = srv.new_builder()
        run = consentry.Registry(srv.url, key=key).check([h(str(i).encode()) for i in range(500_000)], "train-ai")
        it = iter(run)
        next(it)
        srv.proc.kill()
        with pytest.raises((consentry.StreamBroken, consentry.RegistryUnreachable)):
            for _ in it:
                pass
        assert run.receipt is None
    finally:
        srv.stop()

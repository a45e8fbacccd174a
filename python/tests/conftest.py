"""Fixtures of the Python package's tests: a live registry (`consentry
serve`, the built binary) on SQLite or on a fresh PostgreSQL schema, with
an admin, a dataset builder and artists.

Run with `python -m pytest python/tests` after `cargo build` (the binary is
`CONSENTRY_BIN`, default target/debug/consentry) and `pip install
./python[table,datasets,webdataset,datadiligence]` plus
python/tests/requirements.txt. Every test that uses `registry` runs once per
backend.
"""

from __future__ import annotations

import io
import os
import secrets
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

import consentry

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("CONSENTRY_BIN", ROOT / "target" / "debug" / "consentry")).resolve()
POSTGRES = os.environ.get("CONSENTRY_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")


def pytest_configure(config):
    config.addinivalue_line("markers", "img2dataset: needs img2dataset itself (its own venv: requirements-img2dataset.txt)")


def pytest_collection_modifyitems(config, items):
    """Tests that need img2dataset run only where it is installed (it pins
    webdataset<0.3): `.ci/run` runs them in a venv of their own and checks
    that they passed on both backends."""
    try:
        import img2dataset  # noqa: F401
    except ImportError:
        needs = [item for item in items if item.get_closest_marker("img2dataset")]
        if needs:
            config.hook.pytest_deselected(items=needs)
            items[:] = [item for item in items if not item.get_closest_marker("img2dataset")]
            print(f"\nimg2dataset is not installed: {len(needs)} test(s) deselected "
                  "(pip install -r python/tests/requirements-img2dataset.txt, then pytest -m img2dataset)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running `consentry serve`, its admin key and a dataset builder."""

    def __init__(self, backend: str, workdir: Path, *extra: str):
        self.backend = backend
        self.dir = workdir
        self.schema = None
        if backend == "sqlite":
            self.database_url = f"sqlite://{workdir / 'registry.db'}"
        else:
            self.schema = f"python_{secrets.token_hex(6)}"
            subprocess.run(["psql", POSTGRES, "-qc", f"create schema {self.schema}"], check=True)
            self.database_url = f"{POSTGRES}?options=-c%20search_path%3D{self.schema}"
        self.admin_key_file = workdir / "admin.key"
        self.admin = consentry.generate_key(self.admin_key_file)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "serve.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(BIN), "serve", "--listen", f"127.0.0.1:{self.port}", "--database-url", self.database_url,
             "--key-file", str(workdir / "registry.key"), "--admin-key", self.admin.id, *extra],
            cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=2).read()
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"consentry serve did not start: {self.log_path.read_text()}")
                time.sleep(0.2)

    def cli(self, *args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess:
        env = dict(os.environ, CONSENTRY_URL=self.url)
        r = subprocess.run([str(BIN), *args], cwd=cwd or self.dir, env=env, capture_output=True, text=True)
        if check and r.returncode != 0:
            raise AssertionError(f"consentry {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def new_builder(self, name: str = "Test Builder") -> tuple[Path, consentry.Key]:
        """A dataset builder's key file, registered by the admin through the CLI."""
        path = self.dir / f"builder-{secrets.token_hex(4)}.key"
        key = consentry.generate_key(path)
        self.cli("builder", "create", "--admin-key", str(self.admin_key_file), "--name", name, "--key", key.id)
        return path, key

    def new_artist(self, name: str = "Test Artist") -> consentry.Registry:
        """A registered artist's client."""
        path = self.dir / f"artist-{secrets.token_hex(4)}.key"
        artist = consentry.Registry(self.url, key=consentry.generate_key(path))
        artist.register_artist(name)
        artist.key_file = path
        return artist

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        if self.schema:
            subprocess.run(["psql", POSTGRES, "-qc", f"drop schema {self.schema} cascade"], check=False)


@pytest.fixture(scope="session")
def consentry_bin() -> Path:
    if not BIN.exists():
        pytest.fail(f"{BIN} does not exist: run `cargo build` first (or set CONSENTRY_BIN)")
    return BIN


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def server(request, consentry_bin, tmp_path_factory):
    """One registry per backend for the whole session (tests use works of
    their own, so they do not disturb each other)."""
    srv = Server(request.param, tmp_path_factory.mktemp(f"registry-{request.param}"))
    yield srv
    srv.stop()


@pytest.fixture
def builder(server) -> consentry.Registry:
    path, key = server.new_builder()
    reg = consentry.Registry(server.url, key=key)
    reg.key_file = path
    return reg


@pytest.fixture
def artist(server) -> consentry.Registry:
    return server.new_artist()


def picture(seed: int, size: tuple[int, int] = (256, 192)) -> Image.Image:
    """A photo-like test image, different for each seed: smooth gradients
    and shapes, so resized copies keep their fingerprint."""
    rng = __import__("random").Random(seed)
    w, h = size
    img = Image.new("RGB", size)
    px = img.load()
    a, b, c = (rng.randrange(1, 6) for _ in range(3))
    for y in range(h):
        for x in range(w):
            px[x, y] = ((x * a + y * b) % 256, (x * c - y * a) % 256, (x * b + y * c + seed * 37) % 256)
    draw = __import__("PIL.ImageDraw", fromlist=["ImageDraw"]).Draw(img)
    for _ in range(6):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        draw.ellipse([x0, y0, x0 + rng.randrange(20, 90), y0 + rng.randrange(20, 90)],
                     fill=tuple(rng.randrange(256) for _ in range(3)))
    return img


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture
def pictures(tmp_path) -> list[Path]:
    """Twelve distinct PNG files."""
    paths = []
    for i in range(12):
        p = tmp_path / f"work-{i:02d}.png"
        p.write_bytes(encode(picture(secrets.randbits(30))))
        paths.append(p)
    return paths


# The works of the integration and command-line tests: two opted in (with
# an attribution term), two opted out, two never registered, and a resized,
# re-encoded JPEG copy of an opted-out work that near matching must catch.
# For train-genai the default keeps only the opted-in works.
OPT_IN = ("in1", "in2")
OPT_OUT = ("out1", "out2")
UNREGISTERED = ("unk1", "unk2")
NAMES = (*OPT_IN, *OPT_OUT, *UNREGISTERED, "copy")
CREDIT = "Ana Example"


@dataclass
class Corpus:
    """The test's works: ``files[name]``, their bytes, and who registered them."""

    dir: Path
    files: dict[str, Path]
    builder: consentry.Registry
    artist_id: str

    def data(self, name: str) -> bytes:
        return self.files[name].read_bytes()

    def hash(self, name: str) -> str:
        import blake3

        return "blake3:" + blake3.blake3(self.data(name)).hexdigest()

    @staticmethod
    def kept(unknown: bool = False) -> set[str]:
        return set(OPT_IN) | (set(UNREGISTERED) if unknown else set())


@pytest.fixture
def corpus(tmp_path, artist, builder) -> Corpus:
    folder = tmp_path / "works"
    folder.mkdir()
    files = {}
    for name in NAMES[:-1]:
        files[name] = folder / f"{name}.png"
        files[name].write_bytes(encode(picture(secrets.randbits(30))))
    # A resized, re-encoded copy of an opted-out work: other bytes, near code.
    with Image.open(files["out1"]) as original:
        files["copy"] = folder / "copy.jpg"
        files["copy"].write_bytes(encode(original.resize((192, 144)), "JPEG", quality=88))
    artist.register([files[n] for n in OPT_IN], "opt-in", terms=[{"kind": "attribution", "credit": CREDIT}])
    artist.register([files[n] for n in OPT_OUT], "opt-out")
    return Corpus(folder, files, builder, artist.subject)

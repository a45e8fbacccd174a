"""Fixtures of the browser tests: a registry (`consentry serve`, the built
binary) on SQLite or on a fresh PostgreSQL schema, and headless Chromium
driven by Selenium through Debian's chromedriver.

Run with `python3 -m pytest tests/browser` after `cargo build` (the binary
is `CONSENTRY_BIN`, default target/debug/consentry). `.ci/run` installs
chromium, chromium-driver and the pinned Python packages
(tests/browser/requirements.txt). Screenshots go to
target/browser-screenshots/.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("CONSENTRY_BIN", ROOT / "target" / "debug" / "consentry")).resolve()
POSTGRES = os.environ.get("CONSENTRY_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
SHOTS = ROOT / "target" / "browser-screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """A running `consentry serve` and what a test needs to reach it."""

    def __init__(self, backend: str, workdir: Path):
        self.backend = backend
        self.dir = workdir
        self.schema = None
        if backend == "sqlite":
            self.database_url = f"sqlite://{workdir / 'registry.db'}"
        else:
            self.schema = f"browser_{secrets.token_hex(6)}"
            subprocess.run(["psql", POSTGRES, "-qc", f"create schema {self.schema}"], check=True)
            self.database_url = f"{POSTGRES}?options=-c%20search_path%3D{self.schema}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "serve.log", "wb")
        self.proc = subprocess.Popen(
            [str(BIN), "serve", "--listen", f"127.0.0.1:{self.port}", "--database-url", self.database_url,
             "--key-file", str(workdir / "registry.key")],
            cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/healthz", timeout=2).read()
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"consentry serve did not start: {(workdir / 'serve.log').read_text()}")
                time.sleep(0.2)

    def cli(self, *args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess:
        env = dict(os.environ, CONSENTRY_URL=self.url)
        r = subprocess.run([str(BIN), *args], cwd=cwd or self.dir, env=env, capture_output=True, text=True)
        if check and r.returncode != 0:
            raise AssertionError(f"consentry {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        if self.schema:
            subprocess.run(["psql", POSTGRES, "-qc", f"drop schema {self.schema} cascade"], check=False)


def make_driver(download_dir: Path, width: int = 1280, height: int = 900) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--window-size={width},{height}",
                f"--user-data-dir={tempfile.mkdtemp(prefix='consentry-chromium-')}"]:
        options.add_argument(arg)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(download_dir),
        "download.prompt_for_download": False,
        "safebrowsing.enabled": False,
    })
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
    driver.set_script_timeout(120)
    return driver


@pytest.fixture(scope="session")
def consentry_bin() -> Path:
    if not BIN.exists():
        pytest.fail(f"{BIN} does not exist: run `cargo build` first (or set CONSENTRY_BIN)")
    return BIN


@pytest.fixture(params=["sqlite", "postgres"])
def registry(request, consentry_bin, tmp_path):
    reg = Registry(request.param, tmp_path)
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def plain_registry(consentry_bin, tmp_path_factory):
    """A SQLite registry for tests that need only the served files."""
    reg = Registry("sqlite", tmp_path_factory.mktemp("plain"))
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def base_url(plain_registry) -> str:
    return plain_registry.url


@pytest.fixture
def downloads(tmp_path) -> Path:
    d = tmp_path / "downloads"
    d.mkdir()
    return d


@pytest.fixture
def driver(downloads):
    d = make_driver(downloads)
    yield d
    d.quit()


@pytest.fixture(scope="session")
def shots() -> Path:
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS

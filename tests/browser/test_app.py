"""The artist web app in headless Chromium against a live registry, on
SQLite and on PostgreSQL: a new artist goes from an empty browser to
registered works with the consent they chose; keys move between the page
and the CLI both ways; a stranger looks up a file (exact, near, unknown);
receipts verify with `consentry verify-proof`; statements made in the page
verify with the independent verifier of spec/tools; names, titles and
credit lines that look like markup stay text. Screenshots of every page at
desktop and phone widths go to target/browser-screenshots/<backend>/.
"""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from PIL import Image, ImageDraw
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import ROOT, make_driver

XSS_NAME = 'Ana <img src=x onerror="window.__xss=1">'
XSS_CREDIT = "<script>window.__xss=2</script> Ana"
XSS_TITLE = "<img src=x onerror=window.__xss=3>"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def wait(driver, css: str, timeout: float = 60):
    return WebDriverWait(driver, timeout).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))


def wait_text(driver, css: str, text: str, timeout: float = 120):
    WebDriverWait(driver, timeout).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))
    return driver.find_element(By.CSS_SELECTOR, css)


def no_error(driver):
    notice = driver.find_element(By.ID, "notice")
    assert "error" not in (notice.get_attribute("class") or ""), f"the page shows an error: {notice.text}"


def no_xss(driver):
    assert driver.execute_script("return window.__xss === undefined"), "markup from the registry ran as script"


def shoot(driver, shots: Path, backend: str, name: str):
    folder = shots / backend
    folder.mkdir(parents=True, exist_ok=True)
    for label, (w, h) in WIDTHS.items():
        driver.set_window_size(w, h)
        time.sleep(0.3)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(w, min(max(h, height + 120), 4000))
        time.sleep(0.2)
        driver.save_screenshot(str(folder / f"{name}-{label}.png"))
    driver.set_window_size(*WIDTHS["desktop"])


def downloaded(folder: Path, pattern: str, before: set[Path], timeout: float = 30) -> Path:
    deadline = time.time() + timeout
    while time.time() < deadline:
        new = [p for p in folder.glob(pattern) if p not in before and not p.name.endswith(".crdownload")]
        if new:
            time.sleep(0.2)
            return new[0]
        time.sleep(0.1)
    raise AssertionError(f"nothing matching {pattern} was downloaded to {folder}")


def make_portfolio(folder: Path, n_images: int = 44, n_other: int = 6) -> list[Path]:
    """Fifty distinct files: PNG and JPEG images with shapes, and some text."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(17)
    files = []
    for i in range(n_images):
        w, h = rng.choice([(320, 240), (240, 320), (400, 300), (256, 256)])
        img = Image.new("RGB", (w, h), tuple(rng.randrange(256) for _ in range(3)))
        d = ImageDraw.Draw(img)
        for _ in range(12):
            x0, y0 = rng.randrange(w), rng.randrange(h)
            box = [x0, y0, x0 + rng.randrange(20, w // 2), y0 + rng.randrange(20, h // 2)]
            fill = tuple(rng.randrange(256) for _ in range(3))
            (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=fill)
        name = XSS_TITLE if i == 0 else f"work-{i:02d}"
        path = folder / (f"{name}.png" if i % 2 == 0 else f"{name}.jpg")
        img.save(path, quality=90) if path.suffix == ".jpg" else img.save(path)
        files.append(path)
    for i in range(n_other):
        path = folder / f"notes-{i}.txt"
        path.write_text(f"sketchbook notes {i} {rng.random()}\n")
        files.append(path)
    return files


def pick(driver, css: str, paths: list[Path]):
    driver.find_element(By.CSS_SELECTOR, css).send_keys("\n".join(str(p) for p in paths))


def artist_works(registry, artist_id: str) -> list[str]:
    out, after = [], None
    while True:
        q = f"?limit=1000&after={after}" if after else "?limit=1000"
        a = get_json(f"{registry.url}/v1/artists/{artist_id}{q}")
        out += a["works"]["items"]
        after = a["works"]["next_after"]
        if not after:
            return out


def cli_hash(registry, path: Path) -> str:
    import blake3  # noqa: PLC0415 (only this test needs it)
    return "blake3:" + blake3.blake3(path.read_bytes()).hexdigest()


def verify_with_spec_tool(envelopes: list[dict], tmp: Path):
    vectors = []
    for env in envelopes:
        (sig,) = env["signatures"]
        vectors.append({
            "description": "made in the web app",
            "payload_type": env["payloadType"],
            "payload_b64": env["payload"],
            "public_key_hex": sig["keyid"].removeprefix("ed25519:"),
            "signature_b64": sig["sig"],
            "valid": True,
            "reason": "",
        })
    path = tmp / "page-statements.json"
    path.write_text(json.dumps({"vectors": vectors}))
    r = subprocess.run([sys.executable, str(ROOT / "spec/tools/verify_statements.py"), str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert f"{len(vectors)} passed, 0 failed" in r.stdout


def test_an_artist_registers_works_in_the_browser(registry, driver, downloads, shots, tmp_path):
    b = registry.backend
    driver.get(registry.url + "/")
    wait(driver, "#create-artist")
    shoot(driver, shots, b, "01-start")

    # 1. A key made in the page, backed up, and a signed registration.
    driver.find_element(By.ID, "display-name").send_keys(XSS_NAME)
    driver.find_element(By.ID, "create-artist").click()
    wait(driver, "#download-backup")
    before = set(downloads.iterdir())
    driver.find_element(By.ID, "download-backup").click()
    backup = downloaded(downloads, "consentry-*.key", before)
    pem = backup.read_text()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI") and len(pem.splitlines()) == 3, pem
    wait_text(driver, "#who", "Signed in as")
    assert driver.find_element(By.ID, "who").text == f"Signed in as {XSS_NAME}"
    no_error(driver)
    no_xss(driver)
    driver.get(registry.url + "/#/")
    artist_id = wait(driver, "#artist-id").text
    artist = get_json(f"{registry.url}/v1/artists/{artist_id}")
    assert artist["display_name"] == XSS_NAME
    page_key = artist["keys"][0]["key"]
    shoot(driver, shots, b, "02-account")

    # The backup is a `consentry keygen` key file: the CLI and OpenSSL read it.
    pub = subprocess.run(["openssl", "pkey", "-in", str(backup), "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout[-32:]
    assert page_key == "ed25519:" + pub.hex()

    # 2. Fifty files, hashed and fingerprinted in the page, consent chosen, signed, sent.
    portfolio = make_portfolio(tmp_path / "portfolio")
    assert len(portfolio) == 50
    driver.get(registry.url + "/#/register")
    # The folder picker (an <input webkitdirectory>), as an artist picks a folder.
    wait(driver, "#pick-folder").send_keys(str(tmp_path / "portfolio"))
    wait_text(driver, ".summary", "50 works from 50 files")
    driver.find_element(By.CSS_SELECTOR, "input[value='custom']").click()
    Select(driver.find_element(By.CSS_SELECTOR, "select[name='train-ai']")).select_by_value("disallowed")
    Select(driver.find_element(By.CSS_SELECTOR, "select[name='search']")).select_by_value("allowed")
    driver.find_element(By.CSS_SELECTOR, "input[name='credit']").send_keys(XSS_CREDIT)
    shoot(driver, shots, b, "03-register")
    driver.find_element(By.ID, "submit-works").click()
    wait_text(driver, ".summary", "Registered: 50 statements recorded")
    no_error(driver)
    shoot(driver, shots, b, "04-registered")
    before = set(downloads.iterdir())
    driver.find_element(By.ID, "download-receipts").click()
    receipts = json.loads(downloaded(downloads, "consentry-receipts*.json", before).read_text())
    assert len(receipts) == 50

    works = artist_works(registry, artist_id)
    assert sorted(works) == sorted(cli_hash(registry, p) for p in portfolio)
    envelopes = []
    images = [p for p in portfolio if p.suffix in (".png", ".jpg")]
    codes = registry.cli("fingerprint", "--views", *map(str, images)).stdout.splitlines()
    # `--views` prints every view's code; the registry signs each code once.
    cli_codes = {line.split("\t")[1]: list(dict.fromkeys(line.split("\t")[0].split())) for line in codes}
    for p in portfolio:
        view = get_json(f"{registry.url}/v1/works/{cli_hash(registry, p)}")
        (entry,) = view["history"]
        envelopes.append(entry["envelope"])
        assert entry["declared"] == {"train-ai": "disallowed", "search": "allowed"}
        assert entry["terms"] == [{"kind": "attribution", "credit": XSS_CREDIT}]
        assert entry["work"]["title"] == p.stem
        if p in images:
            got = [f["value"] for f in entry["work"]["fingerprints"]]
            assert got == cli_codes[str(p)], f"{p.name}: page {got}, CLI {cli_codes[str(p)]}"
            assert entry["work"]["media_type"] == ("image/png" if p.suffix == ".png" else "image/jpeg")
        else:
            assert "fingerprints" not in entry["work"]
    verify_with_spec_tool(envelopes, tmp_path)

    # 3. The page's key works in the CLI.
    extra = tmp_path / "cli-extra.txt"
    extra.write_text("registered from the command line with the page's key")
    registry.cli("register", str(extra), "--key", str(backup), "--consent", "opt-out")
    assert cli_hash(registry, extra) in artist_works(registry, artist_id)

    # 4. My works: change consent for three works.
    driver.get(registry.url + "/#/works")
    wait_text(driver, "main p[role='status']", "51 works", timeout=120)
    no_xss(driver)
    assert XSS_TITLE in driver.find_element(By.ID, "works-table").text
    shoot(driver, shots, b, "05-my-works")
    boxes = driver.find_elements(By.CSS_SELECTOR, "#works-table tbody input[type='checkbox']")
    chosen = [bx.get_attribute("value") for bx in boxes[:3]]
    for bx in boxes[:3]:
        bx.click()
    driver.find_element(By.CSS_SELECTOR, "section input[value='opt-in']").click()
    driver.find_element(By.CSS_SELECTOR, "section input[name='free']").click()
    driver.find_element(By.ID, "apply-consent").click()
    wait_text(driver, "section p[role='status']", "3 new statements recorded")
    no_error(driver)
    for h in chosen:
        view = get_json(f"{registry.url}/v1/works/{h}")
        assert [e["status"] for e in view["history"]].count("current") == 1
        current = next(e for e in view["history"] if e["status"] == "current")
        assert current["declared"] == "opt-in" and current["terms"] == [{"kind": "free"}]
        assert len(view["history"]) == 2, "the old statement stays in the history"
    driver.get(registry.url + f"/#/work/{chosen[0]}")
    wait(driver, ".history-entry")
    no_xss(driver)
    shoot(driver, shots, b, "06-work")

    # 5. Rotate the page's key; the new key signs, the old is revoked.
    driver.get(registry.url + "/#/")
    wait(driver, "#rotate-key").click()
    wait(driver, "#key-out #download-backup")
    before = set(downloads.iterdir())
    driver.find_element(By.ID, "download-backup").click()
    new_backup = downloaded(downloads, "consentry-*.key", before)
    keys = {k["key"]: k["status"] for k in get_json(f"{registry.url}/v1/artists/{artist_id}")["keys"]}
    assert keys[page_key] == "revoked" and list(keys.values()).count("active") == 1
    shoot(driver, shots, b, "07-keys")
    driver.get(registry.url + "/#/works")
    wait_text(driver, "main p[role='status']", "51 works", timeout=120)
    driver.find_elements(By.CSS_SELECTOR, "#works-table tbody input[type='checkbox']")[5].click()
    driver.find_element(By.ID, "apply-consent").click()
    wait_text(driver, "section p[role='status']", "1 new statements recorded")
    no_error(driver)

    # Add a key, then revoke it from the keys table.
    driver.get(registry.url + "/#/")
    wait(driver, "#add-key").click()
    wait_text(driver, "#notice", "Key added")
    added = [k["key"] for k in get_json(f"{registry.url}/v1/artists/{artist_id}")["keys"] if k["status"] == "active"]
    assert len(added) == 2
    driver.get(registry.url + "/#/stats")
    driver.get(registry.url + "/#/")
    wait(driver, "#keys-table button.danger").click()
    wait_text(driver, "#notice", "Key revoked")
    keys = {k["key"]: k["status"] for k in get_json(f"{registry.url}/v1/artists/{artist_id}")["keys"]}
    assert list(keys.values()).count("active") == 1 and list(keys.values()).count("revoked") == 2

    # 6. Sign out, restore the backup: the same artist again.
    driver.get(registry.url + "/#/")
    wait(driver, "#sign-out").click()
    wait(driver, "#restore-file").send_keys(str(new_backup))
    wait_text(driver, "#who", "Signed in as")
    driver.get(registry.url + "/#/")
    assert wait(driver, "#artist-id").text == artist_id

    # 7. A key made by the CLI signs in the page.
    registry.cli("keygen", "--out", str(tmp_path / "cli.key"))
    registry.cli("artist", "create", "--key", str(tmp_path / "cli.key"), "--name", "Cli Artist")
    wait(driver, "#sign-out").click()
    wait(driver, "#restore-file").send_keys(str(tmp_path / "cli.key"))
    wait_text(driver, "#who", "Signed in as Cli Artist")
    no_error(driver)

    # 8. A stranger looks up files: exact, near (a resized copy), unknown.
    stranger_dl = tmp_path / "stranger"
    stranger_dl.mkdir()
    stranger = make_driver(stranger_dl)
    try:
        stranger.get(registry.url + "/#/lookup")
        registered = next(p for p in images if p.suffix == ".png" and p.stem != XSS_TITLE)
        pick(stranger, "#pick-files", [registered])
        wait_text(stranger, "#match-kind", "Exact match")
        assert XSS_NAME in stranger.find_element(By.CSS_SELECTOR, ".lookup-result").text
        no_xss(stranger)
        shoot(stranger, shots, b, "08-lookup-exact")
        before = set(stranger_dl.iterdir())
        stranger.find_element(By.CSS_SELECTOR, ".receipt-link").click()
        receipt = downloaded(stranger_dl, "consentry-receipt-*", before)
        verifier = get_json(f"{registry.url}/v1/registry")["log"]["verifier_key"]
        registry.cli("verify-proof", str(receipt), "--verifier-key", verifier)

        resized = tmp_path / "resized.jpg"
        Image.open(registered).convert("RGB").resize((200, 150), Image.LANCZOS).save(resized, quality=80)
        stranger.get(registry.url + "/#/stats")
        stranger.get(registry.url + "/#/lookup")
        pick(stranger, "#pick-files", [resized])
        wait_text(stranger, "#match-kind", "Near match")
        near_text = stranger.find_element(By.CSS_SELECTOR, ".lookup-result").text
        assert XSS_NAME in near_text and "Differs in" in near_text, near_text
        no_xss(stranger)
        shoot(stranger, shots, b, "09-lookup-near")

        unknown = tmp_path / "unknown.png"
        Image.effect_noise((300, 200), 80).convert("RGB").save(unknown)
        stranger.get(registry.url + "/#/stats")
        stranger.get(registry.url + "/#/lookup")
        # Dropped on the drop zone (a drop event carrying the file).
        stranger.execute_script("""
            const [b64, name] = arguments;
            const bin = atob(b64);
            const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, {type: 'image/png'}));
            document.querySelector('.dropzone').dispatchEvent(
                new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));""",
            base64.b64encode(unknown.read_bytes()).decode(), "unknown.png")
        wait_text(stranger, "#match-kind", "Not registered")
        assert "unknown.png" in stranger.find_element(By.CSS_SELECTOR, ".lookup-result").text
        no_error(stranger)

        # 9. The statistics page draws the registry's chart.
        stranger.get(registry.url + "/#/stats")
        WebDriverWait(stranger, 30).until(
            lambda d: d.execute_script("const i = document.getElementById('stats-chart'); return i && i.complete && i.naturalWidth > 0"))
        shoot(stranger, shots, b, "10-stats")
        no_xss(stranger)
    finally:
        stranger.quit()
    no_xss(driver)


def test_bad_input_is_explained_and_changes_nothing(registry, driver, tmp_path):
    """Errors reach the page in words: a damaged key file, an empty name,
    a contradiction in the consent, a key the registry does not know."""
    driver.get(registry.url + "/")
    # An empty name is stopped by the browser (a required field); blanks by the page.
    wait(driver, "#create-artist").click()
    assert driver.execute_script("return document.getElementById('display-name').validity.valueMissing")
    driver.find_element(By.ID, "display-name").send_keys("   ")
    driver.find_element(By.ID, "create-artist").click()
    wait_text(driver, "#notice", "Give the name")
    bad = tmp_path / "bad.key"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nMCowBQYDK2VwAyEA\n-----END PRIVATE KEY-----\n")
    driver.find_element(By.ID, "restore-file").send_keys(str(bad))
    wait_text(driver, "#notice", "not an Ed25519 PKCS#8 PEM key")
    # A valid key the registry does not know: the page offers to register it.
    registry.cli("keygen", "--out", str(tmp_path / "new.key"))
    driver.get(registry.url + "/#/stats")
    driver.get(registry.url + "/#/")
    wait(driver, "#restore-file").send_keys(str(tmp_path / "new.key"))
    wait(driver, "#register-restored")
    driver.find_element(By.ID, "restore-name").send_keys("Restored Artist")
    driver.find_element(By.ID, "register-restored").click()
    wait_text(driver, "#who", "Signed in as Restored Artist")
    size = get_json(f"{registry.url}/v1/log")["checkpoint"]["size"]
    # A contradiction is refused in the page, before anything is signed.
    f = tmp_path / "one.txt"
    f.write_text("one")
    wait(driver, "#pick-files").send_keys(str(f))
    wait_text(driver, ".summary", "1 works from 1 files")
    driver.find_element(By.CSS_SELECTOR, "input[value='custom']").click()
    Select(driver.find_element(By.CSS_SELECTOR, "select[name='train-ai']")).select_by_value("disallowed")
    Select(driver.find_element(By.CSS_SELECTOR, "select[name='train-genai']")).select_by_value("allowed")
    driver.find_element(By.ID, "submit-works").click()
    wait_text(driver, "#notice", "cannot be allowed while AI training is not")
    assert get_json(f"{registry.url}/v1/log")["checkpoint"]["size"] == size
    # A clock far ahead is corrected by the registry's: the statement is accepted.
    driver.execute_script("const real = Date.now; Date.now = () => real() + 3 * 86400 * 1000;")
    Select(driver.find_element(By.CSS_SELECTOR, "select[name='train-genai']")).select_by_value("disallowed")
    driver.find_element(By.ID, "submit-works").click()
    wait_text(driver, ".summary", "Registered: 1 statements recorded")
    no_error(driver)
    # A registry that does not answer is said so, in words.
    registry.proc.terminate()
    registry.proc.wait(timeout=20)
    driver.find_element(By.CSS_SELECTOR, "input[value='opt-out']").click()
    driver.find_element(By.ID, "submit-works").click()
    notice = wait_text(driver, "#notice", "could not be reached")
    assert "error" in notice.get_attribute("class")

#!/usr/bin/env python3
"""The studio in a real browser (Debian's chromium and chromedriver, headless, via selenium).

Builds a small digits program (600 training, 200 test and 100 unlabeled images, 3 epochs),
starts `anneal studio --port 0`, opens the tokened URL and goes through the grid, a filter,
an example relabelled with the keyboard and committed, a bulk relabel, the mislabel queue
(accept) and the uncertain queue (confirm); then asserts with `anneal data log --json` that
each became a commit. Prints the latencies measured in the browser: first page load, filter
change, key press to the next example painted.

usage: check_studio.py [ANNEAL] [--shots DIR] [--docs]
  ANNEAL   the binary (default target/debug/anneal)
  --shots  where screenshots go (default $STUDIO_SHOTS or target/studio-shots)
  --docs   also copy one screenshot of each view to docs/studio-*.png
"""
import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run(anneal, *args, cwd):
    out = subprocess.run([anneal, *args], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"anneal {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def make_program(anneal, dir):
    maker = ROOT / "tests" / "browser" / "make_program.py"
    subprocess.run([sys.executable, maker, dir, "--pool", "100"], check=True)
    run(anneal, "build", cwd=dir)
    run(anneal, "data", "import", "data/pool", "--unlabeled", cwd=dir)
    run(anneal, "build", cwd=dir)


def start_studio(anneal, dir):
    proc = subprocess.Popen(
        [anneal, "studio", "--port", "0", "--no-open"],
        cwd=dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        sys.exit(f"anneal studio printed {url!r}")
    return proc, url


def browser():
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(arg)
    if shutil.which("chromium"):
        options.binary_location = shutil.which("chromium")
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver") or "chromedriver")
    return webdriver.Chrome(options=options, service=service)


class Session:
    def __init__(self, driver, shots):
        self.d = driver
        self.shots = shots
        # A page that reloads (after a bulk edit) leaves found elements stale: look again.
        self.wait = WebDriverWait(driver, 20, ignored_exceptions=[StaleElementReferenceException])

    def shot(self, name):
        path = self.shots / f"studio-{name}.png"
        self.d.save_screenshot(str(path))
        return path

    def css(self, selector):
        return self.d.find_elements(By.CSS_SELECTOR, selector)

    def until(self, selector):
        self.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, selector))
        return self.css(selector)[0]

    def navigation_ms(self):
        return self.d.execute_script(
            "const n = performance.getEntriesByType('navigation')[0];"
            "return n.loadEventEnd > 0 ? n.loadEventEnd : n.domContentLoadedEventEnd;"
        )

    def banner_says(self, text):
        # Read in the page, and look again while a reload (after a bulk edit) swaps the
        # document: the banner's message is carried across it.
        read = "const b = document.getElementById('banner'); return b ? b.textContent : '';"
        wait = WebDriverWait(self.d, 20, ignored_exceptions=[WebDriverException])
        wait.until(lambda d: text in (d.execute_script(read) or ""))

    def prefetched(self):
        self.wait.until(lambda d: d.execute_script("return document.documentElement.dataset.prefetched") == "1")

    def key_to_paint(self, key):
        """Dispatch `key` and time it to the frame after the DOM changed."""
        self.prefetched()
        return self.d.execute_async_script(
            """
            const [key, done] = arguments;
            const before = document.querySelector('.panel').dataset.id;
            const t0 = performance.now();
            document.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true }));
            requestAnimationFrame(() => setTimeout(() => {
              const after = document.querySelector('.panel').dataset.id;
              done([performance.now() - t0, before, after]);
            }, 0));
            """,
            key,
        )


def grid_and_filter(s, url):
    s.d.get(url)
    s.until(".cell")
    first = s.navigation_ms()
    assert "?token=" not in s.d.current_url, "the token is dropped from the URL"
    s.shot("grid")
    Select(s.css("select[name=label]")[0]).select_by_value("3")
    s.css("#apply-filter")[0].click()
    s.wait.until(lambda d: "label=3" in d.current_url)
    s.until(".cell")
    labels = {e.text for e in s.css(".cell .label")}
    assert labels == {"3"}, labels
    return first, s.navigation_ms()


def relabel_with_keys(s):
    s.css(".cell a.open")[0].click()
    s.until(".panel")
    s.shot("example")
    moves = []
    for _ in range(5):
        ms, before, after = s.key_to_paint("j")
        assert before != after, "j moved to the next example"
        moves.append(ms)
    ms, before, after = s.key_to_paint("5")
    assert before != after, "a class key labels and moves on"
    moves.append(ms)
    s.key_to_paint("8")
    ActionChains(s.d).send_keys("c").perform()
    s.banner_says("committed")
    return moves


def bulk_relabel(s, base):
    s.d.get(base + "/?split=train&label=7")
    s.until(".cell")
    picks = s.css(".pick")
    picks[0].click()
    ActionChains(s.d).key_down(Keys.SHIFT).click(picks[2]).key_up(Keys.SHIFT).perform()
    assert s.css("#selected-n")[0].text == "3", "shift-click selects the range"
    Select(s.css("#bulk-label")[0]).select_by_value("1")
    s.shot("bulk")
    s.css("#bulk-apply")[0].click()
    s.banner_says("committed")


def queues(s, base):
    s.d.get(base + "/queue/mislabeled")
    s.until(".panel")
    s.shot("mislabeled")
    s.prefetched()
    ActionChains(s.d).send_keys("a").perform()
    ActionChains(s.d).send_keys("c").perform()
    s.banner_says("committed")
    s.d.get(base + "/queue/uncertain")
    s.until(".panel")
    s.shot("uncertain")
    s.prefetched()
    ActionChains(s.d).send_keys(Keys.ENTER).perform()
    ActionChains(s.d).send_keys("c").perform()
    s.banner_says("committed")


def charts(s, base):
    s.d.get(base + "/confusion")
    s.until(".confusion")
    s.shot("confusion")
    s.d.get(base + "/curves")
    s.until(".chart")
    s.shot("curves")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("anneal", nargs="?", default=str(ROOT / "target" / "debug" / "anneal"))
    ap.add_argument("--shots", default=os.environ.get("STUDIO_SHOTS", str(ROOT / "target" / "studio-shots")))
    ap.add_argument("--docs", action="store_true")
    a = ap.parse_args()
    anneal = str(pathlib.Path(a.anneal).resolve())
    shots = pathlib.Path(a.shots)
    shots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        dir = pathlib.Path(tmp) / "program"
        make_program(anneal, dir)
        before = len(json.loads(run(anneal, "data", "log", "--json", cwd=dir)))
        proc, url = start_studio(anneal, dir)
        driver = browser()
        try:
            s = Session(driver, shots)
            base = url.split("/?")[0]
            first, filtered = grid_and_filter(s, url)
            moves = relabel_with_keys(s)
            bulk_relabel(s, base)
            queues(s, base)
            charts(s, base)
        finally:
            driver.quit()
            proc.terminate()
            proc.wait(timeout=10)
        log = json.loads(run(anneal, "data", "log", "--json", cwd=dir))
    studio = [c["message"] for c in log[: len(log) - before]]
    print("commits made in the browser:")
    for m in studio:
        print("  " + m)
    assert len(studio) == 4 and all(m.startswith("studio: relabel") for m in studio), studio
    print(f"first page load      {first:7.1f} ms")
    print(f"filter change        {filtered:7.1f} ms")
    print(f"key -> next painted  {statistics.median(moves):7.1f} ms median, {max(moves):.1f} ms max ({len(moves)} presses)")
    if a.docs:
        for name in ("grid", "example", "bulk", "mislabeled", "uncertain", "confusion", "curves"):
            shutil.copy(shots / f"studio-{name}.png", ROOT / "docs" / f"studio-{name}.png")
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()

"""Browser check for `anneal audit --html`: the report of a small image program, opened from
disk in a real headless Chromium, shows every section, every heat map decodes as an image, the
charts are drawn, and nothing is fetched from anywhere.

Usage: python3 tests/browser/check_report.py PATH/TO/anneal [--shot FILE]
Needs: chromium and chromedriver (Debian), pip install selenium
"""

import argparse
import pathlib
import subprocess
import sys
import tempfile

from selenium.webdriver.common.by import By

from check_studio import ROOT, browser, run

SECTIONS = ["Groups", "Calibration", "Opacity", "Adversarial robustness"]


def make_report(anneal, dir):
    maker = ROOT / "tests" / "browser" / "make_program.py"
    subprocess.run([sys.executable, maker, dir], check=True)
    run(anneal, "build", cwd=dir)
    report = pathlib.Path(dir) / "report.html"
    run(anneal, "audit", "--html", str(report), "--explain", "4", "--faithfulness", "50",
        "--epsilon", "0.05,0.1", "--steps", "5", cwd=dir)
    return report


def check(driver, report):
    driver.get(report.as_uri())
    headings = [h.text for h in driver.find_elements(By.TAG_NAME, "h2")]
    assert headings == SECTIONS, headings
    images = driver.find_elements(By.TAG_NAME, "img")
    assert len(images) == 3 * 4, f"{len(images)} heat maps, expected input, saliency, IG for 4"
    for img in images:
        ok = driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img)
        assert ok and ok > 0, f"{img.get_attribute('alt')} did not decode"
        assert img.get_attribute("src").startswith("data:image/png;base64,")
    svgs = driver.find_elements(By.TAG_NAME, "svg")
    assert len(svgs) >= 3, f"{len(svgs)} charts"
    lines = driver.find_elements(By.CSS_SELECTOR, "svg polyline")
    assert len(lines) == 2, f"{len(lines)} curves, expected fgsm and pgd-5"
    fetched = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert fetched == [], f"the report fetched {fetched}"
    return len(images), len(svgs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("anneal")
    parser.add_argument("--shot", help="save a screenshot of the whole report here")
    args = parser.parse_args()
    anneal = str(pathlib.Path(args.anneal).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        report = make_report(anneal, tmp)
        driver = browser()
        try:
            images, svgs = check(driver, report)
            if args.shot:
                height = driver.execute_script("return document.body.scrollHeight")
                driver.set_window_size(1000, height + 100)
                driver.save_screenshot(args.shot)
        finally:
            driver.quit()
    print(f"report ok: {len(SECTIONS)} sections, {images} heat maps decoded, {svgs} charts, nothing fetched")


if __name__ == "__main__":
    main()

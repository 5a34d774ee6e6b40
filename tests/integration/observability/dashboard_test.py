#!/usr/bin/env python3
"""The admin dashboard (GET /) in a real browser.

Starts dashboard_service (an outbox over the memory transport, a billing
group that dead-letters four payments), opens the page in Debian's chromium
headless through chromium-driver and python3-selenium, and checks that
  - the figures the page shows match /metrics,
  - markup from events and errors is shown as text, never run,
  - replay stays off until a token is typed, a wrong token is refused,
  - the Replay button replays a dead letter (the list and the count drop, the
    handler runs it),
  - the aggregate timeline search finds an aggregate's events,
and saves a screenshot (dashboard.png) in --out.

  dashboard_test.py --service build/.../dashboard_service --out build/...
"""

import argparse
import os
import queue
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    sys.exit("dashboard_test: python3-selenium is missing: scripts/install-deps --test installs it")

DEADLINE = 30  # seconds any one condition may take


def fail(message):
    raise AssertionError(message)


def read_lines(stream, lines):
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def wait_line(lines, pattern, seconds=60):
    """The first line of the service's output matching `pattern`."""
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            fail("dashboard_service never printed " + pattern)
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            continue
        if line is None:
            fail("dashboard_service ended before printing " + pattern)
        match = re.search(pattern, line)
        if match:
            return match


def metrics(base):
    """/metrics as {(family, frozenset(labels)): value}."""
    text = urllib.request.urlopen(base + "metrics", timeout=10).read().decode()
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        if not m:
            fail("unreadable /metrics line: " + line)
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        series[(m.group(1), labels)] = float(m.group(3))
    return series


def total(series, family, **want):
    """The sum of `family`'s samples whose labels include `want`."""
    return sum(v for (name, labels), v in series.items()
               if name == family and all((k, w) in labels for k, w in want.items()))


def main():
    args = argparse.ArgumentParser()
    args.add_argument("--service", required=True)
    args.add_argument("--out", required=True)
    options = args.parse_args()

    chromium = shutil.which("chromium") or fail("chromium is missing: scripts/install-deps --test installs it")
    driver_path = shutil.which("chromedriver") or fail(
        "chromedriver is missing: scripts/install-deps --test installs chromium-driver")

    work = tempfile.mkdtemp(prefix="herald-dashboard-")
    token = "dash-" + secrets.token_hex(12)
    service = subprocess.Popen(
        [options.service, "--store", "sqlite://" + os.path.join(work, "events.db"), "--token", token],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines = queue.Queue()
    threading.Thread(target=read_lines, args=(service.stdout, lines), daemon=True).start()
    browser = None
    try:
        base = "http://127.0.0.1:%s/" % wait_line(lines, r"listening on http://127\.0\.0\.1:(\d+)/").group(1)
        wait_line(lines, r"^ready$")

        chrome = webdriver.ChromeOptions()
        chrome.binary_location = chromium
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1440,1200", "--user-data-dir=" + os.path.join(work, "profile")):
            chrome.add_argument(flag)
        chrome.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        browser = webdriver.Chrome(service=DriverService(executable_path=driver_path), options=chrome)
        # The page redraws its tables on every poll: an element found a moment
        # ago may be replaced before it is read. A condition that meets such an
        # element is tried again, and text_at looks the element up again.
        wait = WebDriverWait(browser, DEADLINE, ignored_exceptions=(StaleElementReferenceException,))
        browser.get(base)

        def text_at(css):
            for _ in range(50):
                try:
                    found = browser.find_elements(By.CSS_SELECTOR, css)
                    return found[0].text if found else None
                except StaleElementReferenceException:
                    continue
            fail("%s was redrawn under every one of 50 reads" % css)

        def cell(group, field):
            return text_at('tr[data-group="%s"] td[data-field="%s"] [data-value]' % (group, field))

        # Two polls: the first gives totals, the second rates.
        wait.until(lambda b: int(b.find_element(By.TAG_NAME, "body").get_attribute("data-polls") or 0) >= 2)
        wait.until(lambda b: cell("billing", "deadHeld") == "4")

        # billing is quiet: every figure equals /metrics exactly.
        series = metrics(base)
        expect = {
            "consumed": total(series, "herald_messages_consumed_total", group="billing", outcome="success"),
            "failed": total(series, "herald_messages_consumed_total", group="billing", outcome="failure"),
            "retries": total(series, "herald_retries_total", group="billing"),
            "deadLetters": total(series, "herald_dead_letters_total", group="billing"),
            "lag": total(series, "herald_consumer_lag_messages", group="billing"),
            "retrying": total(series, "herald_consumer_retrying_messages", group="billing"),
            "deadHeld": total(series, "herald_consumer_dead_letter_messages", group="billing"),
        }
        for field, value in expect.items():
            shown = cell("billing", field)
            if shown != str(int(value)):
                fail("billing %s: the page shows %r, /metrics says %s" % (field, shown, value))
        if expect["deadLetters"] != 4 or expect["deadHeld"] != 4:
            fail("billing should have dead-lettered four payments: %s" % expect)
        reasons = text_at('tr[data-group="billing"] td[data-field="deadLetters"] .sub') or ""
        for reason in ("max_attempts 3", "non_retriable 1"):
            if reason not in reasons:
                fail("dead letters by reason %r lack %r" % (reasons, reason))
        dead_rows = total(series, "herald_outbox_dead_messages")
        outbox_dead = text_at('#outbox [data-field="dead"]')
        if outbox_dead != str(int(dead_rows)):
            fail("outbox dead: the page shows %r, /metrics says %s" % (outbox_dead, dead_rows))

        # mailer is busy: its count on the page catches up with a /metrics read
        # and never passes the next one.
        floor = total(metrics(base), "herald_messages_consumed_total", group="mailer", outcome="success")
        wait.until(lambda b: float(cell("mailer", "consumed") or 0) >= floor)
        shown = float(cell("mailer", "consumed"))
        ceiling = total(metrics(base), "herald_messages_consumed_total", group="mailer", outcome="success")
        if not floor <= shown <= ceiling:
            fail("mailer handled: the page shows %s, /metrics said %s then %s" % (shown, floor, ceiling))
        wait.until(lambda b: float(cell("mailer", "throughput") or 0) > 0)

        # The dead letters of billing, with their errors as text.
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#letters tbody tr")) == 4)
        letters = browser.find_element(By.ID, "letters")
        if "<img src=x" not in letters.text:
            fail("the refund's error text is not shown as text: " + letters.text)
        if letters.find_elements(By.TAG_NAME, "img") or browser.title != "herald dashboard":
            fail("markup from an error text was run")
        if "card processor timed out (run 2)" not in letters.text:
            fail("the capture's last error is not shown: " + letters.text)

        # Replay is offered but off until a token is typed; a wrong one is refused.
        buttons = browser.find_elements(By.CSS_SELECTOR, "#letters button.replay")
        if not buttons or any(b.is_enabled() for b in buttons):
            fail("replay buttons should be shown and disabled before a token is typed")
        captured = [b for b in browser.find_elements(By.CSS_SELECTOR, "#letters tbody tr")
                    if "payment.captured" in b.text]
        if len(captured) != 3:
            fail("expected three captured payments among the dead letters")
        event_id = captured[0].get_attribute("data-id")
        button_css = '#letters button.replay[data-id="%s"]' % event_id
        token_box = browser.find_element(By.ID, "token")
        token_box.send_keys("not-the-token")
        wait.until(lambda b: b.find_element(By.CSS_SELECTOR, button_css).is_enabled())
        browser.find_element(By.CSS_SELECTOR, button_css).click()
        wait.until(lambda b: "the token is not the admin's" in b.find_element(By.ID, "replay-result").text)
        if cell("billing", "deadHeld") != "4":
            fail("a refused replay changed the dead letters")

        handled_before = total(metrics(base), "herald_messages_consumed_total", group="billing", outcome="success")
        token_box.clear()
        token_box.send_keys(token)
        browser.find_element(By.CSS_SELECTOR, button_css).click()
        wait.until(lambda b: b.find_element(By.ID, "replay-result").get_attribute("data-replayed") == "1")
        wait_line(lines, r"^billing handled " + re.escape(event_id) + "$", DEADLINE)
        wait.until(lambda b: cell("billing", "deadHeld") == "3")
        wait.until(lambda b: not b.find_elements(By.CSS_SELECTOR, button_css))
        handled_after = total(metrics(base), "herald_messages_consumed_total", group="billing", outcome="success")
        if handled_after != handled_before + 1:
            fail("billing handled %s events before the replay and %s after" % (handled_before, handled_after))
        wait.until(lambda b: cell("billing", "consumed") == str(int(handled_after)))
        if token in browser.page_source:
            fail("the token appears in the page")

        # An aggregate's timeline.
        browser.find_element(By.ID, "aggregate-type").send_keys("payment")
        browser.find_element(By.ID, "aggregate-id").send_keys("p-1")
        browser.find_element(By.ID, "timeline-search").click()
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")) == 2)
        timeline = browser.find_element(By.ID, "timeline").text
        for text in ("payment.captured", "payment.refunded", "<script>alert(1)</script>"):
            if text not in timeline:
                fail("the timeline of payment p-1 lacks %r: %s" % (text, timeline))

        # The inline script ran under the page's policy: no violation and no
        # script error reported (the wrong token's 401 is expected).
        problems = [e["message"] for e in browser.get_log("browser")
                    if "Content Security Policy" in e["message"] or "Uncaught" in e["message"]
                    or (e["level"] == "SEVERE" and "status of 401" not in e["message"])]
        if problems:
            fail("the browser reported: %s" % problems)

        wait.until(lambda b: float(cell("mailer", "throughput") or 0) > 0)
        shot = os.path.join(options.out, "dashboard.png")
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1440, height + 140)  # the window's own frame counts in its size
        if not browser.save_screenshot(shot):
            fail("could not save " + shot)
        print("dashboard_test: page matched /metrics, replayed %s through the button, screenshot %s (%d bytes)"
              % (event_id, shot, os.path.getsize(shot)))
    finally:
        if browser is not None:
            browser.quit()
        try:
            service.stdin.close()
            service.wait(timeout=20)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
        shutil.rmtree(work, ignore_errors=True)
    if service.returncode != 0:
        fail("dashboard_service exited with %s" % service.returncode)


if __name__ == "__main__":
    main()

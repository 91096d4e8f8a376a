"""HTTP/2 through the router in a real browser (Debian's chromium through chromedriver and selenium).

Run by HTTP2EndToEndTests against a real `yard serve`. It reads, from the environment:
  H2_BASE_URL   the site's HTTPS origin (a name under .localhost, which chromium resolves to loopback)
  H2_FILE       the path of a large file the site serves
  H2_SHA256     that file's SHA-256, hex
Loads the page, then fetches the file six times at once; every fetch must come over h2 and
whole. Prints H2-OK and the protocols seen, or what failed (exit status 1).
"""

import os
import signal
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

BASE = os.environ["H2_BASE_URL"].rstrip("/")
FILE = os.environ["H2_FILE"]
DIGEST = os.environ["H2_SHA256"]

FETCH_ALL = """
const done = arguments[arguments.length - 1];
const hex = (buffer) => Array.from(new Uint8Array(buffer)).map((b) => b.toString(16).padStart(2, '0')).join('');
Promise.all([1, 2, 3, 4, 5, 6].map((n) =>
    fetch(arguments[0] + '?n=' + n, {cache: 'no-store'})
        .then((response) => response.arrayBuffer())
        .then((body) => crypto.subtle.digest('SHA-256', body))
        .then(hex)))
    .then((digests) => done(digests), (error) => done('error: ' + error));
"""


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    # The site's certificate comes from the server's local authority, which this profile does not trust.
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--no-first-run", "--disable-extensions", "--ignore-certificate-errors"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
    driver.set_script_timeout(60)
    try:
        driver.get(BASE + "/")
        digests = driver.execute_async_script(FETCH_ALL, FILE)
        protocols = driver.execute_script(
            "return [performance.getEntriesByType('navigation')[0].nextHopProtocol]"
            ".concat(performance.getEntriesByType('resource').map((e) => e.nextHopProtocol));")
    finally:
        driver.quit()
    if not isinstance(digests, list) or digests != [DIGEST] * 6:
        sys.exit(f"the six fetches did not all come whole: {digests}")
    if set(protocols) != {"h2"}:
        sys.exit(f"not everything came over h2: {protocols}")
    print("H2-OK", len(protocols), "loads over h2, six files whole", flush=True)


if __name__ == "__main__":
    main()

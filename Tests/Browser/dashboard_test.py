"""The dashboard in a real browser (Debian's chromium through chromedriver and selenium).

Run by DashboardEndToEndTests against a real `yard serve`. It reads, from the environment:
  DASHBOARD_URL         the API's URL (the dashboard is under /)
  DASHBOARD_TOKEN_FILE  a 0600 file with the API token (never passed in argv)
  DASHBOARD_APP_DIR     a folder with the fixture app, for the CLI deploy
  YARD_BINARY           the yard CLI (its config dir comes with YARD_CONFIG_DIR)
  SCREENSHOT_DIR        where the screenshots go
Exits 0 when every check passed; prints what failed otherwise.
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse

from axe_selenium_python import Axe
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

BASE = os.environ["DASHBOARD_URL"].rstrip("/")
with open(os.environ["DASHBOARD_TOKEN_FILE"], encoding="utf-8") as handle:
    TOKEN = handle.read().strip()
APP_DIR = os.environ["DASHBOARD_APP_DIR"]
YARD = os.environ["YARD_BINARY"]
SHOTS = os.environ["SCREENSHOT_DIR"]
SEALED_VALUE = "sealed-" + os.urandom(8).hex()
HOST = urllib.parse.urlsplit(BASE).netloc
checked_pages = []
timings = {}


def step(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def fail(text):
    raise AssertionError(text)


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                     "--disable-gpu", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)


def accessible(driver, name):
    """axe-core on the page as it is: no serious or critical violation; every resource from this host."""
    axe = Axe(driver)
    axe.inject()
    results = axe.run()
    bad = [v for v in results["violations"] if v.get("impact") in ("serious", "critical")]
    if bad:
        fail(f"axe on {name}: " + "; ".join(f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in bad))
    origins = driver.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return new URL(e.name).host; });")
    foreign = [o for o in origins if o != HOST]
    if foreign:
        fail(f"{name} loaded from other hosts: {foreign}")
    if TOKEN in driver.page_source or TOKEN in driver.current_url:
        fail(f"the API token appears on {name}")
    # The page with its assets: under 200 KB.
    size = driver.execute_script(
        "return new Blob([document.documentElement.outerHTML]).size + performance.getEntriesByType('resource')"
        ".reduce(function (total, e) { return total + (e.decodedBodySize || 0); }, 0);")
    if size > 200 * 1024:
        fail(f"{name} weighs {size} bytes with its assets, more than 200 KB")
    timings["largest page with assets (bytes)"] = max(size, timings.get("largest page with assets (bytes)", 0))
    checked_pages.append(name)


def wait(driver, seconds, condition, message):
    try:
        # A live page replaces its elements (status polls, streamed logs): an element read
        # while it is swapped out is stale ("Node with given id does not belong to the
        # document"); the condition is asked again rather than failing the run.
        return WebDriverWait(
            driver, seconds, poll_frequency=0.25, ignored_exceptions=(NoSuchElementException, WebDriverException)
        ).until(condition)
    except Exception as error:  # noqa: BLE001 - the message says what was awaited
        fail(f"timed out after {seconds}s waiting for {message} on {driver.current_url}: {error.__class__.__name__} {error}")


def click(driver, css):
    driver.find_element(By.CSS_SELECTOR, css).click()


def submit(driver, css, confirm=False):
    """Clicks a form's button and waits until the next page replaced this one."""
    old = driver.find_element(By.TAG_NAME, "html")
    click(driver, css)
    if confirm:
        WebDriverWait(driver, 5).until(EC.alert_is_present()).accept()
    wait(driver, 30, EC.staleness_of(old), f"the page after {css}")


def submit_field(driver, field_id, value, button_id):
    field = driver.find_element(By.ID, field_id)
    field.clear()
    field.send_keys(value)
    submit(driver, "#" + button_id)


def yard(*arguments, background=False):
    command = [YARD, *arguments]
    if background:
        return subprocess.Popen(command, cwd=APP_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result = subprocess.run(command, cwd=APP_DIR, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        fail(f"yard {' '.join(arguments)} failed: {result.stdout}{result.stderr}")
    return result.stdout


def card_status(driver, service):
    return driver.find_element(By.CSS_SELECTOR, f'.card[data-service="{service}"] .status').text


def sign_in(driver):
    driver.get(BASE + "/")
    wait(driver, 10, EC.url_to_be(BASE + "/login"), "the redirect to /login")
    accessible(driver, "sign-in")
    driver.find_element(By.ID, "token").send_keys(TOKEN)
    submit(driver, "#sign-in")
    wait(driver, 10, EC.presence_of_element_located((By.ID, "create-project")), "the projects page")


def first_flow(driver):
    step("sign in")
    sign_in(driver)
    accessible(driver, "projects")

    step("create project shop")
    submit_field(driver, "project-name", "shop", "create-project")
    wait(driver, 10, EC.url_to_be(BASE + "/p/shop/production"), "the canvas of shop")
    submit_field(driver, "service-name", "web", "create-service")
    wait(driver, 10, EC.presence_of_element_located((By.CSS_SELECTOR, '.card[data-service="web"]')), "web's card")
    if card_status(driver, "web") != "NONE":
        fail(f"a new service's card says {card_status(driver, 'web')}")
    driver.execute_script("window.yardNotReloaded = true;")

    step("deploy web through the CLI; the card must turn live without a reload")
    yard("link", "shop")
    started = time.monotonic()
    deploy = yard("up", "--service", "web", background=True)
    wait(driver, 300, lambda d: card_status(d, "web") == "SUCCESS", "web's card to say SUCCESS")
    timings["deploy to live card"] = round(time.monotonic() - started, 1)
    if driver.execute_script("return window.yardNotReloaded === true;") is not True:
        fail("the canvas reloaded instead of updating the card in place")
    output, _ = deploy.communicate(timeout=120)
    if deploy.returncode != 0:
        fail(f"yard up failed: {output}")
    driver.save_screenshot(os.path.join(SHOTS, "canvas.png"))
    accessible(driver, "canvas")

    step("open the service and redeploy; the build log streams")
    submit(driver, '.card[data-service="web"] h2 a')
    wait(driver, 10, EC.presence_of_element_located((By.ID, "redeploy")), "the service page")
    accessible(driver, "service")
    click(driver, "#redeploy-no-cache")
    submit(driver, "#redeploy")
    wait(driver, 10, EC.presence_of_element_located((By.ID, "notice")), "the redeploy notice")
    rows = driver.find_elements(By.CSS_SELECTOR, "#deployments tbody tr[data-deployment]")
    if len(rows) != 2:
        fail(f"expected 2 deployments after the redeploy, saw {len(rows)}")
    logs = driver.find_element(By.ID, "logs")
    if logs.get_attribute("data-log-kind") != "build":
        fail("the logs view does not show the build log")
    # Live: the build command (railway.toml, written by the Swift test) prints marker-42,
    # sleeps 4 s, prints marker-43; the first must show while the second has not happened
    # and the stream is still open (the command's own text has neither number).
    wait(driver, 120, lambda d: "marker-42" in d.find_element(By.ID, "logs").text, "marker-42 in the build log")
    text = logs.text
    if "marker-43" in text or logs.get_attribute("data-log-done") is not None:
        fail(f"the build log did not stream: it arrived whole: {text!r}")
    wait(driver, 120, lambda d: "marker-43" in d.find_element(By.ID, "logs").text, "marker-43 in the build log")
    driver.save_screenshot(os.path.join(SHOTS, "logs.png"))
    accessible(driver, "logs")
    step("search the build log")
    submit_field(driver, "log-search", "marker-43", "log-search-button")
    wait(driver, 30, lambda d: d.find_element(By.ID, "logs").get_attribute("data-log-done") == "true", "the searched log")
    found = driver.find_element(By.ID, "logs").text
    if "marker-43" not in found or "marker-42" in found:
        fail(f"searching the log for marker-43 showed: {found!r}")
    for _ in range(240):
        driver.get(BASE + "/p/shop/production/s/web")
        statuses = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#deployments tbody .status")]
        if statuses and statuses[0] in ("SUCCESS", "FAILED", "CRASHED"):
            break
        time.sleep(0.5)
    if statuses[0] != "SUCCESS":
        fail(f"the redeploy ended {statuses[0]}")

    step("variables: plain shown, sealed never in the DOM")
    driver.find_element(By.ID, "variable-key").send_keys("GREETING")
    driver.find_element(By.ID, "variable-value").send_keys("hello from the dashboard")
    submit(driver, "#set-variable")
    wait(driver, 10, EC.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-variable="GREETING"]')), "GREETING in the table")
    if "hello from the dashboard" not in driver.find_element(By.CSS_SELECTOR, 'tr[data-variable="GREETING"]').text:
        fail("a plain variable's value is not shown")
    driver.find_element(By.ID, "variable-key").send_keys("API_KEY")
    driver.find_element(By.ID, "variable-value").send_keys(SEALED_VALUE)
    click(driver, "#variable-sealed")
    submit(driver, "#set-variable")
    wait(driver, 10, EC.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-variable="API_KEY"]')), "API_KEY in the table")
    dom = driver.execute_script("return document.documentElement.outerHTML + [...document.querySelectorAll('input')].map(i => i.value).join(' ');")
    if SEALED_VALUE in dom or SEALED_VALUE in driver.page_source:
        fail("the sealed value is in the DOM")
    if "sealed" not in driver.find_element(By.CSS_SELECTOR, 'tr[data-variable="API_KEY"]').text:
        fail("the sealed variable is not marked sealed")

    step("roll back to the first deployment")
    rollback = driver.find_elements(By.CSS_SELECTOR, "#deployments button.rollback")
    if not rollback:
        fail("no deployment offers a rollback")
    submit(driver, "#deployments button.rollback", confirm=True)
    notice = driver.find_elements(By.ID, "notice")
    if not notice or "Rolling back" not in notice[0].text:
        fail(f"rollback said: {driver.find_element(By.ID, 'main').text[:1500]}")
    first = driver.find_element(By.CSS_SELECTOR, "#deployments tbody tr[data-deployment]").text
    if "(rollback)" not in first:
        fail(f"the newest deployment is not the rollback: {first}")

    step("add a domain")
    submit_field(driver, "domain-hostname", "shop.example.test", "add-domain")
    if "shop.example.test" not in driver.find_element(By.ID, "domains").text:
        fail(f"the domain is not listed: {driver.find_element(By.ID, 'domains').text}")
    driver.save_screenshot(os.path.join(SHOTS, "service.png"))
    accessible(driver, "service with variables and domains")

    attacks(driver)

    step("sign out")
    submit(driver, "#sign-out")
    if driver.current_url != BASE + "/login" or driver.get_cookie("yard_session"):
        fail(f"signing out left {driver.current_url} with cookie {driver.get_cookie('yard_session')}")
    driver.get(BASE + "/p/shop/production")
    if driver.current_url != BASE + "/login":
        fail(f"a page after signing out answered {driver.current_url}")


def attacks(driver):
    """CSRF with the browser's own cookie: refused, and nothing changes."""
    step("CSRF: a form without the token, a cross-site POST with the cookie")
    cookie = driver.get_cookie("yard_session")
    if not cookie or not cookie.get("httpOnly") or cookie.get("sameSite") != "Strict":
        fail(f"the session cookie is not HttpOnly and SameSite=Strict: {cookie}")
    headers = {"Cookie": f"yard_session={cookie['value']}", "Content-Type": "application/x-www-form-urlencoded"}
    csrf = driver.find_element(By.CSS_SELECTOR, 'meta[name="csrf-token"]').get_attribute("content")
    cases = [
        ("no token", {}, "name=evil-one"),
        ("cross-site", {"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}, f"name=evil-two&csrf={csrf}"),
        ("other origin", {"Origin": "http://evil.example"}, f"name=evil-three&csrf={csrf}"),
    ]
    for name, extra, body in cases:
        connection = http.client.HTTPConnection(HOST, timeout=10)
        connection.request("POST", "/projects", body=body, headers={**headers, **extra})
        response = connection.getresponse()
        response.read()
        connection.close()
        if response.status != 403:
            fail(f"CSRF case '{name}' answered {response.status}, not 403")
    connection = http.client.HTTPConnection(HOST, timeout=10)
    connection.request("GET", "/v1/projects", headers={"Authorization": f"Bearer {TOKEN}"})
    names = [p["name"] for p in json.loads(connection.getresponse().read())]
    connection.close()
    if any(name.startswith("evil") for name in names):
        fail(f"a refused request created a project: {names}")
    connection = http.client.HTTPConnection(HOST, timeout=10)
    connection.request("GET", "/p/shop/production")
    response = connection.getresponse()
    response.read()
    if response.status != 303 or response.getheader("Location") != "/login":
        fail(f"a page without a session answered {response.status} {response.getheader('Location')}")
    for name, value in (("Content-Security-Policy", "script-src 'self'"), ("X-Frame-Options", "DENY")):
        if value not in (response.getheader(name) or ""):
            fail(f"{name} is {response.getheader(name)!r}")


def second_flow(driver):
    step("second flow: add Postgres, reference it, see the line")
    sign_in(driver)
    driver.get(BASE + "/p/shop/production")
    submit(driver, "#add-database")
    wait(driver, 30, EC.presence_of_element_located((By.CSS_SELECTOR, '.card[data-service="Postgres"]')), "Postgres's card")
    if driver.find_elements(By.CSS_SELECTOR, "line.ref-line"):
        fail("a reference line is drawn before any variable references Postgres")
    driver.get(BASE + "/p/shop/production/s/web")
    driver.find_element(By.ID, "variable-key").send_keys("DATABASE_URL")
    driver.find_element(By.ID, "variable-value").send_keys("${{Postgres.DATABASE_URL}}")
    submit(driver, "#set-variable")
    wait(driver, 10, EC.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-variable="DATABASE_URL"]')), "DATABASE_URL")
    driver.get(BASE + "/p/shop/production")
    line = wait(driver, 10, EC.presence_of_element_located((By.CSS_SELECTOR, 'line.ref-line[data-from="web"][data-to="Postgres"]')),
                "the web → Postgres line")
    if line.get_attribute("x1") == line.get_attribute("x2") and line.get_attribute("y1") == line.get_attribute("y2"):
        fail("the reference line has no length")
    step("drag Postgres's card down; the line follows and the place is saved")
    card = driver.find_element(By.CSS_SELECTOR, '.card[data-service="Postgres"]')
    before = int(card.get_attribute("data-y"))
    handle = card.find_element(By.CSS_SELECTOR, "p")
    ActionChains(driver).click_and_hold(handle).move_by_offset(0, 60).move_by_offset(0, 100).release().perform()
    wait(driver, 10, lambda d: d.find_element(By.CSS_SELECTOR, '.card[data-service="Postgres"]').get_attribute("data-saved") == "true",
         "the moved card to be saved")
    driver.refresh()
    card = wait(driver, 10, EC.presence_of_element_located((By.CSS_SELECTOR, '.card[data-service="Postgres"]')), "the canvas again")
    after = int(card.get_attribute("data-y"))
    if abs(after - before - 160) > 4:
        fail(f"Postgres's card was at y={before}, dragged 160 px down, and is at y={after} after a reload")
    line = driver.find_element(By.CSS_SELECTOR, 'line.ref-line[data-from="web"][data-to="Postgres"]')
    if int(float(line.get_attribute("y2"))) != after + 65:
        fail(f"the line ends at y={line.get_attribute('y2')}, not at the moved card's centre {after + 65}")
    if card.location["y"] - driver.find_element(By.CSS_SELECTOR, ".cards").location["y"] != after:
        fail(f"the card is drawn at {card.location}, not at its saved place y={after}")
    step("move web's card with the keyboard")
    web = driver.find_element(By.CSS_SELECTOR, '.card[data-service="web"]')
    web_x = int(web.get_attribute("data-x"))
    web.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    wait(driver, 10, lambda d: d.find_element(By.CSS_SELECTOR, '.card[data-service="web"]').get_attribute("data-saved") == "true",
         "the keyboard move to be saved")
    driver.refresh()
    web = wait(driver, 10, EC.presence_of_element_located((By.CSS_SELECTOR, '.card[data-service="web"]')), "the canvas again")
    if int(web.get_attribute("data-x")) != web_x + 32:
        fail(f"two presses of the right arrow moved web from x={web_x} to x={web.get_attribute('data-x')}")
    line = driver.find_element(By.CSS_SELECTOR, 'line.ref-line[data-from="web"][data-to="Postgres"]')
    if int(float(line.get_attribute("x1"))) != web_x + 32 + 120:
        fail(f"the line starts at x={line.get_attribute('x1')}, not at web's centre")
    driver.save_screenshot(os.path.join(SHOTS, "canvas-postgres.png"))
    accessible(driver, "canvas with Postgres")

    step("Postgres's page: a Backups section with its create action, the metrics section")
    driver.get(BASE + "/p/shop/production/s/Postgres")
    wait(driver, 10, EC.presence_of_element_located((By.ID, "create-backup")), "the Backups section's create button")
    driver.find_element(By.ID, "metrics")
    driver.save_screenshot(os.path.join(SHOTS, "service-postgres.png"))
    accessible(driver, "Postgres service page")
    submit(driver, "#sign-out")


def main():
    # The Swift driver stops a run that overstays with SIGTERM: quit the browser on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    os.makedirs(SHOTS, exist_ok=True)
    started = time.monotonic()
    driver = browser()
    try:
        first_flow(driver)
        second_flow(driver)
    except Exception:
        driver.save_screenshot(os.path.join(SHOTS, "failure.png"))
        print("page at failure:", driver.current_url, driver.page_source[:4000], sep="\n", flush=True)
        raise
    finally:
        driver.quit()
    timings["whole browser run"] = round(time.monotonic() - started, 1)
    print("DASHBOARD-OK pages checked by axe:", ", ".join(checked_pages), "timings:", json.dumps(timings), flush=True)


if __name__ == "__main__":
    main()

"""What an open management UI costs AMQP traffic: S1 and S2 with and without a browser on
the overview.

    python scripts/ui_overhead.py [--repeats 3] [--duration 10] [--refresh 5000]

Starts ``leveret serve`` on free ports, then runs ``leveret perf`` S1 (1 producer, 1
consumer, 16-byte bodies, autoack) and S2 (the same with manual acks, prefetch 100) several
times, alternating a run with no browser and a run with headless chromium logged in on the
overview, polling every ``--refresh`` ms (5 s: the UI's default). Prints each run's rate and
the medians' ratio (with the UI / without). Needs chromium and chromedriver.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

SCENARIOS = {
    "S1": ["--size", "16", "--autoack"],
    "S2": ["--size", "16", "--prefetch", "100"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 15) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    sys.exit(f"nothing listens on {port}")


def perf(url: str, scenario: str, duration: float, broker_pid: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "leveret", "perf", "--uri", url, "--json"]
    command += ["--duration", str(duration), "--broker-pid", str(broker_pid)]
    out = subprocess.run(
        command + SCENARIOS[scenario], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def open_overview(base: str, refresh_ms: int) -> webdriver.Chrome:
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        sys.exit("needs chromium and chromedriver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.get(f"{base}/")
    driver.execute_script("sessionStorage.setItem('leveret.refresh', arguments[0])", refresh_ms)
    wait = WebDriverWait(driver, 30)
    wait.until(lambda d: d.find_element(By.NAME, "username").is_displayed())
    driver.find_element(By.NAME, "username").send_keys("guest")
    driver.find_element(By.NAME, "password").send_keys("guest")
    driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "main[data-ready] [data-total]"))
    return driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--refresh", type=int, default=5000, help="the UI's polling, in ms")
    args = parser.parse_args()
    amqp_port, http_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        command = [sys.executable, "-m", "leveret", "serve", "--port", str(amqp_port)]
        command += ["--management-port", str(http_port), "--prometheus-port", "0"]
        command += ["--data-dir", data_dir, "--log-level", "warning"]
        broker = subprocess.Popen(command)
        try:
            wait_for_port(amqp_port)
            wait_for_port(http_port)
            url = f"amqp://guest:guest@127.0.0.1:{amqp_port}/%2F"
            base = f"http://127.0.0.1:{http_port}"
            for scenario in SCENARIOS:
                rates: dict[bool, list[float]] = {False: [], True: []}
                for _ in range(args.repeats):
                    for with_ui in (False, True):
                        driver = open_overview(base, args.refresh) if with_ui else None
                        try:
                            result = perf(url, scenario, args.duration, broker.pid)
                        finally:
                            if driver is not None:
                                driver.quit()
                        rate = float(result["recv_rate"])
                        rates[with_ui].append(rate)
                        label = "overview open" if with_ui else "no browser"
                        cpu = result["broker"]["cpu_util"]
                        print(f"{scenario} {label:>13}: {rate:>9,.0f} msg/s, broker CPU {cpu:.2f}")
                without, with_ui = statistics.median(rates[False]), statistics.median(rates[True])
                print(
                    f"{scenario}: median {without:,.0f} msg/s without, {with_ui:,.0f} with the "
                    f"overview open: ratio {with_ui / without:.3f}"
                )
        finally:
            broker.terminate()
            broker.wait(timeout=10)


if __name__ == "__main__":
    main()

"""Regenerate the management UI's screenshots in docs/ui/ (shown by README.md and docs/ui.md).

    python scripts/ui_screenshots.py [--out docs/ui] [--warmup 20]

Starts an embedded broker with its management port, gives it a small shop's topology and
traffic (pika publishers and consumers in threads), then drives Debian's chromium through
chromedriver (as tests/ui does) and saves one PNG per screen, a phone-sized one and a dark
one. With Pillow installed the PNGs are reduced to 256 colours, which keeps each one small.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pika
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

import leveret

ROOT = Path(__file__).resolve().parents[1]

# (file name, route, heading the screen shows once drawn)
SCREENS = [
    ("overview", "", "Overview"),
    ("connections", "connections", "Connections"),
    ("channels", "channels", "Channels"),
    ("exchanges", "exchanges", "Exchanges"),
    ("exchange", "exchanges/%2F/shop", "Exchange shop"),
    ("queues", "queues", "Queues"),
    ("queue", "queues/%2F/orders", "Queue orders"),
    ("users", "admin/users", "Users"),
    ("user", "admin/users/alice", "User alice"),
    ("vhosts", "admin/vhosts", "Virtual hosts"),
]


def topology(broker: leveret.Broker) -> None:
    """A small shop: a topic exchange feeding order, email and report queues."""
    params = pika.URLParameters(broker.url)
    params.client_properties = {"connection_name": "setup"}
    connection = pika.BlockingConnection(params)
    channel = connection.channel()
    channel.confirm_delivery()
    channel.exchange_declare("shop", "topic", durable=True)
    channel.exchange_declare("shop.dead", "fanout", durable=True)
    channel.queue_declare(
        "orders",
        durable=True,
        arguments={"x-dead-letter-exchange": "shop.dead", "x-max-length": 100000},
    )
    channel.queue_declare("emails", durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_declare("reports", durable=True)
    channel.queue_declare("orders.dead", durable=True)
    channel.queue_bind("orders", "shop", "order.*")
    channel.queue_bind("emails", "shop", "*.email")
    channel.queue_bind("reports", "shop", "report.#")
    channel.queue_bind("orders.dead", "shop.dead")
    for n in range(1234):
        channel.basic_publish(
            "shop", "report.daily", b'{"report": %d}' % n, pika.BasicProperties(delivery_mode=2)
        )
    connection.close()
    broker.access(lambda a: a.add_user("alice", "alice-pw", tags=["management"]))
    broker.access(lambda a: a.set_permissions("alice", "/", "^$", "^shop$", "^(orders|emails)$"))
    broker.add_vhost("staging")


def traffic(broker: leveret.Broker, stop: threading.Event) -> list[threading.Thread]:
    """A publisher of orders and emails, and a consumer of orders that keeps some unacked."""

    def publisher() -> None:
        params = pika.URLParameters(broker.url)
        params.client_properties = {"connection_name": "web-shop"}
        connection = pika.BlockingConnection(params)
        channel = connection.channel()
        n = 0
        while not stop.is_set():
            key = "order.created" if n % 3 else "order.email"
            body = b'{"order": %d, "items": 3}' % n
            properties = pika.BasicProperties(content_type="application/json", headers={"n": n})
            channel.basic_publish("shop", key, body, properties)
            n += 1
            connection.sleep(0.05)
        connection.close()

    def consumer() -> None:
        params = pika.URLParameters(broker.url)
        params.client_properties = {"connection_name": "order-worker"}
        connection = pika.BlockingConnection(params)
        channel = connection.channel()
        channel.basic_qos(prefetch_count=20)
        held: list[int] = []

        def on_message(ch: Any, method: Any, properties: Any, body: bytes) -> None:
            held.append(method.delivery_tag)
            if len(held) > 12:
                ch.basic_ack(held.pop(0))

        channel.basic_consume("orders", on_message)
        while not stop.is_set():
            connection.process_data_events(time_limit=0.2)
        connection.close()

    threads = [threading.Thread(target=run, daemon=True) for run in (publisher, consumer)]
    for thread in threads:
        thread.start()
    return threads


def start_chrome() -> webdriver.Chrome:
    chromium = shutil.which("chromium") or shutil.which("google-chrome")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        sys.exit("needs chromium and chromedriver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--lang=en-US"):
        options.add_argument(argument)
    options.add_argument("--hide-scrollbars")
    options.add_argument("--force-device-scale-factor=1")
    return webdriver.Chrome(options=options, service=Service(driver_path))


def wait(driver: webdriver.Chrome, condition: Callable[[], Any], timeout: float = 30) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda _: condition())


def show(driver: webdriver.Chrome, route: str, heading: str) -> None:
    driver.execute_script("location.hash = arguments[0]", f"#/{route}")

    def drawn() -> bool:
        h1 = driver.find_elements(By.CSS_SELECTOR, "main[data-ready] h1")
        return bool(h1) and h1[0].text == heading

    wait(driver, drawn)
    driver.execute_script("window.scrollTo(0, 0); document.activeElement.blur()")
    time.sleep(0.5)  # let the charts draw at their final width


def save(driver: webdriver.Chrome, path: Path) -> None:
    driver.save_screenshot(str(path))
    try:
        from PIL import Image
    except ImportError:
        print(f"{path} ({path.stat().st_size // 1024} KiB; install Pillow for smaller files)")
        return
    with Image.open(path) as image:
        image.convert("RGB").quantize(colors=256).save(path, optimize=True)
    print(f"{path} ({path.stat().st_size // 1024} KiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "ui")
    parser.add_argument("--warmup", type=float, default=20, help="seconds of chart samples")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    stop = threading.Event()
    with (
        tempfile.TemporaryDirectory() as data_dir,
        leveret.Broker(management_port=0, data_dir=data_dir) as broker,
    ):
        topology(broker)
        threads = traffic(broker, stop)
        driver = start_chrome()
        try:
            driver.set_window_size(1280, 860)
            driver.get(f"{broker.management_url}/")
            driver.execute_script("sessionStorage.setItem('leveret.refresh', '2000')")
            wait(driver, lambda: driver.find_element(By.NAME, "username").is_displayed())
            driver.find_element(By.NAME, "username").send_keys("guest")
            driver.find_element(By.NAME, "password").send_keys("guest")
            driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
            show(driver, "", "Overview")
            time.sleep(args.warmup)  # chart samples, one every 2 s
            for name, route, heading in SCREENS:
                show(driver, route, heading)
                if name == "queue":
                    time.sleep(args.warmup / 2)  # the depth chart's samples
                save(driver, args.out / f"{name}.png")

            # The messages a get brings back, on the queue page of one without consumers.
            show(driver, "queues/%2F/emails", "Queue emails")
            form = driver.find_element(By.CSS_SELECTOR, 'form[aria-label="Get messages"]')
            count = form.find_element(By.NAME, "count")
            count.clear()
            count.send_keys("2")
            form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            wait(driver, lambda: len(driver.find_elements(By.CSS_SELECTOR, "article.message")) == 2)
            driver.execute_script(
                "document.querySelector('[aria-labelledby=s-get-messages]').scrollIntoView()"
            )
            time.sleep(0.3)
            save(driver, args.out / "queue-get.png")

            driver.execute_cdp_cmd(
                "Emulation.setEmulatedMedia",
                {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
            )
            show(driver, "", "Overview")
            save(driver, args.out / "overview-dark.png")
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})

            driver.set_window_size(390, 844)
            show(driver, "queues", "Queues")
            Select(driver.find_element(By.CSS_SELECTOR, "#vhost")).select_by_value("/")
            show(driver, "queues", "Queues")
            save(driver, args.out / "phone-queues.png")
        finally:
            driver.quit()
            stop.set()
            for thread in threads:
                thread.join(timeout=5)


if __name__ == "__main__":
    main()

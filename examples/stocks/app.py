#!/usr/bin/env python3
"""Stocks: a simulated market publishing every price tick to sse-sidecar.

A background thread moves ~20 prices by a random walk and publishes each tick on the public
topic stocks.SYMBOL over the sidecar's Unix socket. Browsers subscribe to stocks.* on the
sidecar without credentials; this app only serves the page and a snapshot for fresh pages.
"""

import collections
import math
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))

from sidecar_client import Publisher, PublishRefused, SidecarUnavailable  # noqa: E402
from webapp import App, HttpError, common_arguments, now_ms  # noqa: E402

SYMBOLS = [
    ("AAPL", "Apple", 189.50), ("MSFT", "Microsoft", 402.10), ("GOOG", "Alphabet", 141.80),
    ("AMZN", "Amazon", 155.20), ("META", "Meta Platforms", 352.60), ("NVDA", "NVIDIA", 495.20),
    ("TSLA", "Tesla", 238.40), ("NFLX", "Netflix", 478.30), ("ORCL", "Oracle", 104.90),
    ("INTC", "Intel", 43.70), ("AMD", "AMD", 122.60), ("IBM", "IBM", 157.90),
    ("CSCO", "Cisco", 48.20), ("ADBE", "Adobe", 581.40), ("CRM", "Salesforce", 226.80),
    ("PYPL", "PayPal", 58.90), ("UBER", "Uber", 61.30), ("SHOP", "Shopify", 72.50),
    ("SAP", "SAP", 152.70), ("ASML", "ASML", 681.20),
]
HISTORY = 240  # prices kept per symbol for a fresh page's charts

app = App("stocks", os.path.join(os.path.dirname(os.path.abspath(__file__)), "static"))
lock = threading.Lock()
quotes = {}
ticks_total = 0


class Quote:
    def __init__(self, symbol, name, price):
        self.symbol = symbol
        self.name = name
        self.open = price
        self.price = price
        self.volume = 0
        self.history = collections.deque([price], maxlen=HISTORY)
        self.volatility = random.uniform(0.0005, 0.0015)

    def step(self):
        # Geometric random walk with a slight pull back towards the opening price.
        drift = 0.05 * math.log(self.open / self.price) * self.volatility
        self.price = round(max(0.01, self.price * math.exp(random.gauss(drift + 0.03 * self.volatility, self.volatility))), 2)
        self.volume += random.randint(1, 40) * 100
        self.history.append(self.price)

    def tick(self):
        change = round(self.price - self.open, 2)
        return {"s": self.symbol, "p": self.price, "c": change,
                "cp": round(100.0 * change / self.open, 2), "v": self.volume, "t": now_ms()}

    def snapshot(self):
        return dict(self.tick(), name=self.name, o=self.open, history=list(self.history))


def ticker(publisher, rate, stop):
    """Publishes `rate` ticks per second, in small batches every 50 ms."""
    global ticks_total
    interval = 0.05
    owed = 0.0
    failing = False
    next_run = time.monotonic()
    symbols = list(quotes)
    while not stop.is_set():
        owed += rate * interval
        count, owed = int(owed), owed - int(owed)
        for _ in range(count):
            symbol = random.choice(symbols)
            with lock:
                quote = quotes[symbol]
                quote.step()
                tick = quote.tick()
                ticks_total += 1
            try:
                publisher.publish("stocks." + symbol, tick, event="tick")
                if failing:
                    app.log("publishing again")
                    failing = False
            except (SidecarUnavailable, PublishRefused) as e:
                if not failing:
                    app.log("cannot publish ticks: %s (retrying quietly)" % e)
                    failing = True
                break
        next_run += interval
        stop.wait(max(0.0, next_run - time.monotonic()))
        if time.monotonic() - next_run > 1.0:
            next_run = time.monotonic()  # fell behind (suspended): do not burst


@app.route("GET", "/api/snapshot")
def snapshot(request):
    """Every symbol's price, change and recent prices, for a page that just opened."""
    with lock:
        return {"symbols": [q.snapshot() for q in quotes.values()], "ticks": ticks_total}


@app.route("GET", "/api/quotes/<symbol>")
def one_quote(request):
    symbol = request.params["symbol"].upper()
    with lock:
        quote = quotes.get(symbol)
        if quote is None:
            raise HttpError(404, "unknown symbol %r" % request.params["symbol"])
        return quote.snapshot()


def main():
    parser = common_arguments(__doc__, 8002)
    parser.add_argument("--rate", type=float,
                        default=float(os.environ.get("DEMO_TICK_RATE", "100")),
                        help="ticks per second over all symbols (default 100, env DEMO_TICK_RATE)")
    options = parser.parse_args()
    if not 0 < options.rate <= 5000:
        parser.error("--rate must be between 0 and 5000 ticks per second")
    for symbol, name, price in SYMBOLS:
        quotes[symbol] = Quote(symbol, name, price)
        for _ in range(HISTORY - 1):
            quotes[symbol].step()  # a chart's worth of past prices
        quotes[symbol].volume = 0
    app.config = {"sse": options.sse_url, "rate": options.rate}
    stop = threading.Event()
    publisher = Publisher(options.socket)
    threading.Thread(target=ticker, args=(publisher, options.rate, stop), daemon=True).start()
    app.log("publishing %g ticks/s over %d symbols" % (options.rate, len(quotes)))
    try:
        app.serve(options.host, options.port)
    finally:
        stop.set()


if __name__ == "__main__":
    main()

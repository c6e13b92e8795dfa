"""Shared pieces of the API tests: keys, bodies, and a webhook receiver on loopback."""

import base64
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image

from generations.api import keys


def make_key(user, name="script", **limits):
    """A new personal key of `user`; returns (the key row, its secret)."""
    made = keys.create_key(user, name, **limits)
    return made.key, made.secret


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


def png_bytes(color="orange", size=(40, 30)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def noise_png(size=(48, 48)):
    """An image that does not compress: its PNG is about 3 bytes a pixel."""
    buffer = io.BytesIO()
    Image.effect_noise(size, 64).convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


def data_uri(color="orange", content=None):
    content = content or png_bytes(color)
    return "data:image/png;base64," + base64.b64encode(content).decode()


class Receiver:
    """A member's webhook endpoint on 127.0.0.1: records every POST (headers and raw
    body) and answers with the next status of `statuses` (the last one repeats)."""

    def __init__(self, statuses=(200,)):
        self.statuses = list(statuses)
        self.requests = []
        self.received = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"headers": dict(self.headers.items()), "body": body})
                status = receiver.statuses[min(len(receiver.requests), len(receiver.statuses)) - 1]
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                receiver.received.set()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/banana"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def json(self, i=0):
        return json.loads(self.requests[i]["body"])

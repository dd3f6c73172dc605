"""A local identity provider for tests: a JWKS endpoint on loopback whose RSA keys the
test generates and rotates."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass
class Provider:
    """A JWKS endpoint on loopback whose keys the test rotates; it can hold its answer
    until the test (on the event loop) lets it go."""

    keys: dict[str, Any] = field(default_factory=dict)
    fetches: int = 0
    hold: bool = False
    hit: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    released_in_time: bool | None = None
    status: int = 200
    url: str = ""

    def add_key(self, kid: str) -> rsa.RSAPrivateKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.keys[kid] = key
        return key

    def body(self) -> bytes:
        jwks = []
        for kid, key in self.keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
            jwks.append(jwk)
        return json.dumps({"keys": jwks}).encode()


@pytest.fixture(name="provider")
def provider_fixture() -> Iterator[Provider]:
    """The provider (import ``provider_fixture`` into a test module to use ``provider``)."""
    state = Provider()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.fetches += 1
            if state.hold:
                state.hit.set()
                state.released_in_time = state.release.wait(timeout=10)
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(state.body())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/jwks.json"
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()

"""How the API is served: uvicorn, its HTTP/1.1 protocol answering requests it cannot parse in JSON too.

uvicorn refuses a request line or headers over h11's limit (a question of a megabyte in a GET query
string) with a plain-text 400 before any middleware sees it; a client reading every error as JSON (the
widget, an SDK) then fails on the body. The limit is set here, not left to h11's default, so it is the
one documented.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_LIMIT = 64 * 1024  # bytes of request line and headers; questions are at most a few thousand characters


LINGER_S = 2.0  # how long the rest of a refused request is read and dropped before the connection closes


class JsonErrorsH11(H11Protocol):
    """uvicorn's h11 protocol, with its 400 for an unparseable request sent as JSON."""

    refused = False

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"detail": f"{msg.rstrip('.')}: malformed HTTP, or a request line and headers over "
                                     f"{HEAD_LIMIT} bytes (send long questions in a POST body)"}).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.refused = True
        # Closing with the client's bytes still unread resets the connection, and the client may lose the
        # answer with it (it is still sending a megabyte): end our side, drop what comes, close a bit later.
        if self.transport.can_write_eof():
            self.transport.write_eof()
            asyncio.get_running_loop().call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if not self.refused:
            super().data_received(data)


def uvicorn_config(app: FastAPI, host: str = "127.0.0.1", port: int = 8000, **more: Any) -> uvicorn.Config:
    return uvicorn.Config(app, host=host, port=port, http=JsonErrorsH11, h11_max_incomplete_event_size=HEAD_LIMIT,
                          **more)

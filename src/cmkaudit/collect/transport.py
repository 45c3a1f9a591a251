"""The wire under every SDK client: an azure-core transport on urllib3's connection pools.

azure-core's own `RequestsTransport` goes through a requests session for each call: it merges the session's
settings, cookies and hooks, prepares the request again and wraps the answer twice, about half of the CPU a
Resource Manager call costs this process (benchmarks/README.md). The pipeline above it (authentication, retries,
pacing, the origin guard) needs none of that: this transport sends the request the pipeline built as it is,
through urllib3 (requests' own connection layer), with the same rules for what a user's environment says:
HTTPS_PROXY / HTTP_PROXY / NO_PROXY as requests reads them, the CA bundle of REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE
(else certifi's, as requests), connect and read timeouts, no redirect followed and no retry of its own (the
pipeline's retry policy decides). Failures are azure-core's errors, as RequestsTransport raises them, so the
retry policy and the collector see what they saw before.
"""

from __future__ import annotations

import codecs
import email.message
import json
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import certifi
import requests.utils
import urllib3
from azure.core.exceptions import (
    HttpResponseError,
    IncompleteReadError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest import HttpRequest, HttpResponse
from azure.core.utils import CaseInsensitiveDict
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)


def _charset(content_type: str | None) -> str | None:
    """The charset a Content-Type names, when Python knows it."""
    if not content_type:
        return None
    message = email.message.Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    if not isinstance(charset, str):
        return None
    try:
        codecs.lookup(charset)
    except LookupError:
        return None
    return charset


class WireResponse(HttpResponse):
    """An answer read whole (Azure's answers are small JSON documents), in azure-core's `rest` response shape."""

    def __init__(self, request: HttpRequest, status: int, reason: str, headers: Mapping[str, str], body: bytes):
        self._request = request
        self._status = status
        self._reason = reason
        self._headers: CaseInsensitiveDict = CaseInsensitiveDict(headers)
        self._body = body
        self._encoding: str | None = _charset(self._headers.get("Content-Type"))
        self._text: str | None = None

    @property
    def request(self) -> HttpRequest:
        return self._request

    @property
    def status_code(self) -> int:
        return self._status

    @property
    def headers(self) -> CaseInsensitiveDict:
        return self._headers

    @property
    def reason(self) -> str:
        return self._reason

    @property
    def content_type(self) -> str | None:
        return self._headers.get("Content-Type")

    @property
    def is_closed(self) -> bool:
        return True

    @property
    def is_stream_consumed(self) -> bool:
        return True

    @property
    def encoding(self) -> str | None:
        return self._encoding

    @encoding.setter
    def encoding(self, value: str | None) -> None:
        self._encoding = value
        self._text = None

    @property
    def url(self) -> str:
        return str(self._request.url)

    @property
    def content(self) -> bytes:
        return self._body

    def text(self, encoding: str | None = None) -> str:
        """The body as text: the given encoding, else the Content-Type's charset, else UTF-8 (with a BOM or not,
        undecodable bytes replaced), as azure-core's own responses decode it."""
        chosen = encoding or self._encoding
        if not encoding and self._text is not None:
            return self._text
        if not self._body:
            text = ""
        elif chosen:
            text = self._body.decode("utf-8-sig" if chosen.lower() in ("utf-8", "utf8") else chosen)
        else:
            text = codecs.getincrementaldecoder("utf-8-sig")(errors="replace").decode(self._body, final=True)
        if not encoding:
            self._text = text
        return text

    def json(self) -> Any:
        """The body decoded as JSON (ValueError when it is not)."""
        return json.loads(self.text())

    def raise_for_status(self) -> None:
        """HttpResponseError for a status of 400 or above."""
        if self._status >= 400:
            raise HttpResponseError(response=self)

    def read(self) -> bytes:
        return self._body

    def body(self) -> bytes:
        """The body (the older azure-core response method, which generated SDK code still looks for)."""
        return self._body

    def iter_raw(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._body

    def iter_bytes(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._body

    def close(self) -> None:
        """Nothing to release: the connection went back to its pool when the body was read."""

    def __enter__(self) -> WireResponse:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()


def _ca_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """urllib3's CA options from the environment, as requests reads it: a bundle file or a directory of them."""
    bundle = environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE") or certifi.where()
    return {"ca_cert_dir": bundle} if Path(bundle).is_dir() else {"ca_certs": bundle}


class PooledTransport(HttpTransport):  # type: ignore[type-arg]
    """Sends azure-core `rest` requests through urllib3 pools: `connections` kept-alive connections per host
    (sized to the crawl's concurrency), direct or through the proxy the environment names for the host.

    The CA bundle is read from the environment when the transport is made, the proxy once per origin: the
    environment does not change during a scan."""

    def __init__(
        self,
        connections: int = 10,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
    ) -> None:
        self.connections = connections
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._pool_options: dict[str, Any] = {
            "maxsize": connections,
            "block": False,
            "retries": False,
            **_ca_settings(os.environ),
        }
        self._lock = threading.Lock()
        self._direct: urllib3.PoolManager | None = None
        self._proxied: dict[str, urllib3.ProxyManager] = {}
        self._routes: dict[tuple[str, str], str | None] = {}

    def proxy_for(self, url: str) -> str | None:
        """The proxy the environment names for `url` (requests' rules: the scheme's proxy unless NO_PROXY
        excludes the host), or None to go direct."""
        parts = urlsplit(url)
        origin = (parts.scheme.lower(), parts.netloc.lower())
        with self._lock:
            if origin in self._routes:
                return self._routes[origin]
        route = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url, no_proxy=None)) or None
        with self._lock:
            self._routes[origin] = route
        return route

    @property
    def ca_options(self) -> dict[str, str]:
        """Where server certificates are checked from (`ca_certs` or `ca_cert_dir`)."""
        return {k: v for k, v in self._pool_options.items() if k in ("ca_certs", "ca_cert_dir")}

    def _manager(self, url: str) -> urllib3.PoolManager:
        proxy = self.proxy_for(url)
        with self._lock:
            if proxy is None:
                if self._direct is None:
                    self._direct = urllib3.PoolManager(num_pools=16, **self._pool_options)
                return self._direct
            manager = self._proxied.get(proxy)
            if manager is None:
                parts = urlsplit(proxy)
                headers = None
                if parts.username is not None:
                    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
                    headers = urllib3.make_headers(proxy_basic_auth=credentials)
                manager = urllib3.ProxyManager(proxy, num_pools=16, proxy_headers=headers, **self._pool_options)
                self._proxied[proxy] = manager
            return manager

    def send(self, request: Any, **kwargs: Any) -> WireResponse:
        """Send `request` (an azure-core `rest` request) and read its answer whole."""
        if not isinstance(request, HttpRequest):
            raise TypeError(f"this transport sends azure.core.rest requests, not {type(request).__name__}")
        connect = kwargs.get("connection_timeout") or self.connect_timeout
        read = kwargs.get("read_timeout") or self.read_timeout
        body = request.content
        if body is not None and not isinstance(body, bytes | str):
            raise TypeError(f"a request body of type {type(body).__name__} is not sent by this transport")
        url = str(request.url)
        try:
            answer = self._manager(url).urlopen(
                str(request.method),
                url,
                body=body.encode() if isinstance(body, str) else body,
                headers=dict(request.headers),
                redirect=False,
                retries=False,
                timeout=urllib3.Timeout(connect=connect, read=read),
                preload_content=True,
                enforce_content_length=True,
            )
        except ConnectTimeoutError as err:
            raise ServiceRequestTimeoutError(err, error=err) from err
        except ReadTimeoutError as err:
            raise ServiceResponseTimeoutError(err, error=err) from err
        except (NewConnectionError, SSLError, ProxyError) as err:
            raise ServiceRequestError(err, error=err) from err
        except ProtocolError as err:
            if "IncompleteRead" in str(err):
                raise IncompleteReadError(err, error=err) from err
            raise ServiceResponseError(err, error=err) from err
        except HTTPError as err:
            raise ServiceResponseError(err, error=err) from err
        return WireResponse(request, answer.status, answer.reason or "", answer.headers, answer.data)

    def open(self) -> None:
        """Pools are made on first use."""

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            managers: list[urllib3.PoolManager] = [*self._proxied.values()]
            if self._direct is not None:
                managers.append(self._direct)
            self._direct, self._proxied = None, {}
        for manager in managers:
            manager.clear()

    def __enter__(self) -> PooledTransport:
        self.open()
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

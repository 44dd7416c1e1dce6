"""A bare aiohttp pass-through proxy: the cost of one Python hop, nothing else.

    python -m bench.bare_proxy --port 9000 --upstream http://127.0.0.1:8333

No authentication and no intake: each request goes upstream as it came (method, raw path
and query, headers with ``Host`` untouched so the client's SigV4 signature verifies
upstream), its body forwarded in 1 MiB chunks as it arrives, over one keep-alive
``ClientSession``; the answer streams back the same way.
"""

from __future__ import annotations

import argparse

import aiohttp
from aiohttp import web

CHUNK = 1 << 20
# Hop-by-hop headers (RFC 9110 7.6.1) and the ones aiohttp writes itself.
_DROPPED = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
            "transfer-encoding", "upgrade", "expect"}


def make_app(upstream: str) -> web.Application:
    """``upstream``: base URL of the S3 server, e.g. ``http://127.0.0.1:8333``."""
    app = web.Application(client_max_size=0)

    async def session_ctx(app: web.Application):
        connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=60)
        app["session"] = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                               timeout=aiohttp.ClientTimeout(total=None))
        yield
        await app["session"].close()

    app.cleanup_ctx.append(session_ctx)

    async def forward(request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROPPED}
        body = None
        if request.can_read_body:
            async def chunks():
                async for chunk in request.content.iter_chunked(CHUNK):
                    yield chunk
            body = chunks()
        async with app["session"].request(
                request.method, upstream + request.raw_path, headers=headers, data=body,
                allow_redirects=False, skip_auto_headers=("Content-Type", "User-Agent",
                                                          "Accept", "Accept-Encoding")
        ) as reply:
            response = web.StreamResponse(status=reply.status, reason=reply.reason)
            for name, value in reply.headers.items():
                if name.lower() not in _DROPPED:
                    response.headers.add(name, value)
            if request.method == "HEAD":
                # The length is the object's, not of this (empty) answer.
                await response.prepare(request)
                return response
            await response.prepare(request)
            async for chunk in reply.content.iter_chunked(CHUNK):
                await response.write(chunk)
            await response.write_eof()
            return response

    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_proxy", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="loopback port to listen on")
    parser.add_argument("--upstream", required=True, help="base URL of the S3 server")
    args = parser.parse_args(argv)
    web.run_app(make_app(args.upstream.rstrip("/")), host="127.0.0.1", port=args.port,
                access_log=None, print=None)


if __name__ == "__main__":
    main()

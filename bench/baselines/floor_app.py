"""The HTTP floor: a bare ASGI callable answering a constant JSON body, on uvicorn.

``bench/consent.py`` measures it in the same rounds and on the same core as ``identity serve``,
whose decisions bypass the web framework (``identity.fastlane``) while ``/healthz`` goes through
it: a decision's ratio to this floor is what the server costs above HTTP itself. Served with the
options ``identity serve`` gives uvicorn (``src/identity/cli.py``): one process, the auto event
loop and HTTP parser (uvloop, httptools), proxy headers, no server header, no access log; only
the lifespan protocol is off, having nothing to start.

    python bench/baselines/floor_app.py PORT
"""

import sys

import uvicorn

BODY = b'{"status":"ok"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]


async def floor(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    uvicorn.run(
        floor, host="127.0.0.1", port=int(sys.argv[1]), proxy_headers=True,
        forwarded_allow_ips="127.0.0.1", server_header=False, access_log=False, lifespan="off",
    )  # fmt: skip

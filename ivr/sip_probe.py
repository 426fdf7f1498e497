"""A SIP OPTIONS ping over UDP: is a SIP agent answering on host:port?

The pool uses it as the readiness check of a worker (pjsua answers OPTIONS
outside a dialog with 200), the same probe Kamailio's dispatcher sends.
"""

from __future__ import annotations

import asyncio
import secrets


def options_request(host: str, port: int, local_port: int, branch: str, call_id: str) -> bytes:
    return (
        f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK{branch};rport\r\n"
        f"From: <sip:probe@127.0.0.1>;tag={branch[:8]}\r\n"
        f"To: <sip:{host}:{port}>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Max-Forwards: 70\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


class _Probe(asyncio.DatagramProtocol):
    def __init__(self, call_id: str):
        self.call_id = call_id.encode()
        self.status: asyncio.Future = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr) -> None:
        if self.status.done() or not data.startswith(b"SIP/2.0 ") or self.call_id not in data:
            return
        try:
            code = int(data[8:11])
        except ValueError:
            return
        if code >= 200:
            self.status.set_result(code)


async def sip_options_status(host: str, port: int, timeout: float = 1.0) -> int | None:
    """The final status of an OPTIONS to host:port, or None (no answer in time)."""
    loop = asyncio.get_running_loop()
    call_id = secrets.token_hex(8)
    transport, probe = await loop.create_datagram_endpoint(
        lambda: _Probe(call_id), remote_addr=(host, port))
    try:
        local_port = transport.get_extra_info("sockname")[1]
        request = options_request(host, port, local_port, secrets.token_hex(8), call_id)
        deadline = loop.time() + timeout
        while loop.time() < deadline:  # UDP: resend every 250 ms (T1-ish)
            transport.sendto(request)
            try:
                return await asyncio.wait_for(asyncio.shield(probe.status),
                                              min(0.25, max(0.01, deadline - loop.time())))
            except asyncio.TimeoutError:
                continue
        return None
    finally:
        transport.close()


async def sip_options_ping(host: str, port: int, timeout: float = 1.0) -> bool:
    return await sip_options_status(host, port, timeout) == 200


def sip_options_ping_blocking(host: str, port: int, timeout: float = 1.0) -> bool:
    """The same probe with a plain socket, for code outside an event loop."""
    import socket
    import time

    call_id = secrets.token_hex(8)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((host, port))
        request = options_request(host, port, sock.getsockname()[1], secrets.token_hex(8),
                                  call_id)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sock.send(request)
            sock.settimeout(max(0.01, min(0.25, deadline - time.monotonic())))
            try:
                data = sock.recv(65535)
            except (TimeoutError, ConnectionRefusedError):
                continue
            if data.startswith(b"SIP/2.0 200") and call_id.encode() in data:
                return True
        return False

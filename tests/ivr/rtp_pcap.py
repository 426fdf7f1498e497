"""Write RFC 2833/4733 key presses as pcap files for SIPp's ``play_pcap_audio``.

SIPp ships one pcap per digit (/usr/share/sip-tester/dtmf_2833_N.pcap), all with
the same SSRC, sequence numbers and timestamp: the same digit played twice in a
call is, to the receiver, a retransmission of the first press, and is dropped
(correctly). A real phone numbers every event anew, so the tests write their own
trains: start, updates every 20 ms, three end packets, each press with its own
timestamp and sequence numbers.
"""

from __future__ import annotations

import struct
from pathlib import Path

EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13, "C": 14,
          "D": 15}
PAYLOAD_TYPE = 101


def _udp_frame(payload: bytes, sport: int = 10000, dport: int = 10000) -> bytes:
    eth = bytes.fromhex("0050bf990336000d8714ac24") + b"\x08\x00"
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)  # checksum 0: none
    total = 20 + len(udp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, 17, 0,
                     bytes([192, 168, 0, 3]), bytes([192, 168, 0, 1]))
    return eth + ip + udp + payload


def rfc2833_packets(digit: str, seq: int, timestamp: int, ssrc: int = 0x0E05384E,
                    updates: int = 6, step: int = 160) -> list[bytes]:
    event = EVENTS[digit]
    packets = []
    for i in range(updates + 1):
        marker = 0x80 if i == 0 else 0
        duration = step * (i + 1)
        rtp = struct.pack("!BBHII", 0x80, marker | PAYLOAD_TYPE, (seq + i) & 0xFFFF,
                          timestamp, ssrc)
        packets.append(rtp + struct.pack("!BBH", event, 10, duration))
    end_duration = step * (updates + 2)
    for _ in range(3):  # the end packet is sent three times (RFC 4733 2.5.1.4)
        rtp = struct.pack("!BBHII", 0x80, PAYLOAD_TYPE, (seq + updates + 1) & 0xFFFF,
                          timestamp, ssrc)
        packets.append(rtp + struct.pack("!BBH", event, 0x80 | 10, end_duration))
    return packets


def write_pcap(path: str | Path, payloads: list[bytes], interval_us: int = 20000) -> None:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    t = 0
    for i, payload in enumerate(payloads):
        frame = _udp_frame(payload)
        if i and i < len(payloads) - 2:
            t += interval_us
        out.append(struct.pack("<IIII", 1_000_000 + t // 1_000_000, t % 1_000_000,
                               len(frame), len(frame)))
        out.append(frame)
    Path(path).write_bytes(b"".join(out))


def write_key_pcaps(directory: str | Path, digits: str, first_seq: int = 1000,
                    first_ts: int = 160_000) -> list[Path]:
    """One pcap per key of ``digits``, numbered so that every press is new."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    seq, ts = first_seq, first_ts
    for n, digit in enumerate(digits):
        packets = rfc2833_packets(digit, seq, ts)
        name = {"*": "star", "#": "pound"}.get(digit, digit)
        path = directory / f"key{n}_{name}.pcap"
        write_pcap(path, packets)
        paths.append(path)
        seq += len(packets) + 10
        ts += 8000 * 2  # two seconds of media clock between presses
    return paths

#!/usr/bin/env python3
"""Writes the seed corpus of the h2_session fuzz target (tests/fuzz/corpus/h2_session/): the
client's side of a few HTTP/2 connections, made by hand so the script needs nothing beyond
Python (HPACK literals without Huffman coding or indexing). Each file starts with the byte that
picks how the target cuts the rest into reads."""

import os
import struct

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADERS, DATA, RST_STREAM, SETTINGS, PING, WINDOW_UPDATE, CONTINUATION = 1, 0, 3, 4, 6, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(kind, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(
        ">I", stream_id) + payload


def literal(name, value):
    """A header field as an HPACK literal without indexing, new name, no Huffman coding."""
    def string(s):
        b = s.encode()
        assert len(b) < 127
        return bytes([len(b)]) + b
    return b"\x00" + string(name) + string(value)


def request(path, extra=()):
    fields = [(":method", "GET"), (":scheme", "https"), (":authority", "localhost"),
              (":path", path)] + list(extra)
    return b"".join(literal(n, v) for n, v in fields)


def settings(*pairs):
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


SEEDS = {
    "preface_settings_headers": PREFACE + settings((4, 65535)) + frame(
        HEADERS, END_HEADERS | END_STREAM, 1, request("/events?topic=public.a")),
    "two_streams_and_ack": PREFACE + settings() + frame(SETTINGS, ACK, 0) + frame(
        HEADERS, END_HEADERS | END_STREAM, 1, request("/events?topic=a")) + frame(
        HEADERS, END_HEADERS | END_STREAM, 3, request("/sidecar.js")) + frame(
        WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 20)),
    "continuation": PREFACE + settings() + frame(HEADERS, 0, 1, request("/events?topic=b")[:10])
    + frame(CONTINUATION, END_HEADERS, 1, request("/events?topic=b")[10:]),
    "reset_and_ping": PREFACE + settings() + frame(
        HEADERS, END_HEADERS | END_STREAM, 1, request("/events?topic=c")) + frame(
        RST_STREAM, 0, 1, struct.pack(">I", 8)) + frame(PING, 0, 0, b"12345678"),
    "body_on_get": PREFACE + settings() + frame(
        HEADERS, END_HEADERS, 1, request("/events?topic=d", [("cookie", "a=1"), ("cookie", "b=2")]))
    + frame(DATA, END_STREAM, 1, b"body"),
}

# The cut: 0 reads everything in pieces of 1 byte, 96 in pieces of 97.
CUTS = {"preface_settings_headers": 96, "two_streams_and_ack": 6, "continuation": 12,
        "reset_and_ping": 0, "body_on_get": 40}

if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "h2_session")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([CUTS[name]]) + data)

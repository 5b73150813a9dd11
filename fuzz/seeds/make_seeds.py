#!/usr/bin/env python3
"""Writes the seed inputs of the `spd` and `fru` fuzz targets (run from fuzz/seeds/).

Random bytes rarely grow into a 352-byte SPD or a FRU with well-formed areas within a
short CI run, so each target starts from a few valid images. The first byte(s) are the
targets' control bytes (see each target's docs). Values are invented, not copied from
any real module.
"""
import os


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def spd(kind):
    if kind == "ddr4":
        img = bytearray(512)
        img[2] = 0x0C
        at, pn_len = 320, 20
        pn = b"36ASF4G72PZ-3G2E1"
    else:
        img = bytearray(1024)
        img[2] = 0x12
        at, pn_len = 512, 30
        pn = b"M321R8GA0BB0-CQKZJ"
    img[0] = 0x23
    img[at : at + 2] = bytes([0x80, 0x2C])  # bank 1, ID 0x2C, odd parity
    img[at + 5 : at + 9] = bytes([0x12, 0x34, 0x56, 0x78])  # serial
    img[at + 9 : at + 9 + pn_len] = pn.ljust(pn_len, b" ")
    img[at + 9 + pn_len + 1 : at + 9 + pn_len + 3] = bytes([0x80, 0xCE])
    if kind == "ddr4":
        img[126:128] = crc16(img[0:126]).to_bytes(2, "little")
        img[254:256] = crc16(img[128:254]).to_bytes(2, "little")
    else:
        img[510:512] = crc16(img[0:510]).to_bytes(2, "little")
    return img


def field(text, kind=0xC0):
    return bytes([kind | len(text)]) + text


def area(header, fields):
    body = bytearray(header) + b"".join(fields) + b"\xC1"
    while (len(body) + 1) % 8:
        body.append(0)
    body[1] = (len(body) + 1) // 8
    body.append((-sum(body)) & 0xFF)
    return body


def fru(language):
    board = area(
        [0x01, 0, language, 0x10, 0x32, 0x00],
        [
            field(b"Example Boards"),
            field("H13 ñ".encode("latin-1")),
            field(bytes([0x37, 0x9A, 0x7F]), 0x80),  # 6-bit ASCII "WHY?"
            field(b"PN-0001"),
            field(b"", 0x00),
            field(b"custom"),
            field(bytes([0x12, 0x34]), 0x40),  # BCD plus
        ],
    )
    product = area(
        [0x01, 0, language],
        [field(t) for t in (b"Maker", b"Server", b"PART", b"v1", b"SN42", b"ASSET", b"")],
    )
    header = bytearray([0x01, 0, 0, 1, 1 + len(board) // 8, 0, 0])
    header.append((-sum(header)) & 0xFF)
    return header + board + product


def write(target, name, data):
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, name), "wb") as f:
        f.write(data)


write("spd", "ddr4", b"\x00" + spd("ddr4"))
write("spd", "ddr5", b"\x00" + spd("ddr5"))
write("fru", "english", b"\x00\x10" + fru(25))
write("fru", "non-english", b"\x00\x40" + fru(2))

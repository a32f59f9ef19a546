#!/usr/bin/env python3
"""extract.py PCAP: print src, dst, ttl and the IP payload (the VRRP message) of the first packet.

Reads a classic little-endian pcap with Ethernet link type (what tshark -w -F pcap or
tcpdump -w write); IPv4 options and IPv6 extension headers are not expected in VRRP adverts.
"""
import ipaddress, struct, sys

data = open(sys.argv[1], "rb").read()
if data[:4] == b"\x0a\x0d\x0d\x0a":
    sys.exit("pcapng: convert with: editcap -F pcap IN OUT")
magic, = struct.unpack("<I", data[:4])
assert magic in (0xA1B2C3D4, 0xA1B23C4D), hex(magic)
linktype, = struct.unpack("<I", data[20:24])
assert linktype == 1, linktype
incl, = struct.unpack("<I", data[24 + 8:24 + 12])
frame = data[40:40 + incl]
eth = struct.unpack("!H", frame[12:14])[0]
ip = frame[14:]
if eth == 0x0800:
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    src, dst, ttl = ipaddress.ip_address(ip[12:16]), ipaddress.ip_address(ip[16:20]), ip[8]
    payload = ip[ihl:total]
elif eth == 0x86DD:
    plen = struct.unpack("!H", ip[4:6])[0]
    src, dst, ttl = ipaddress.ip_address(ip[8:24]), ipaddress.ip_address(ip[24:40]), ip[7]
    payload = ip[40:40 + plen]
else:
    sys.exit("not IP")
print(f"src {src}\ndst {dst}\nttl {ttl}\npayload {payload.hex()}")

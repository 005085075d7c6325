#!/usr/bin/python3
"""A social security card served by vsmartcard's own ISO 7816 emulator (vicc).

The card logic (SELECT by DF name, READ RECORD by short file identifier, the
"P1 to last" record reads, GET RESPONSE, status words) is virtualsmartcard's
Iso7816OS, not sscagent's. This script only builds the card's file system: an SSSE
application (DF name "sx1.sh.社会保障") with the issuer data file EF05 and the holder file
EF06, whose records are written here from the field values, as the card file structure
V2.0 lays them out (SIMPLE-TLV records, an padded with 00, cn as BCD padded with F).

Usage: vicc_ssse.py --port PORT   (the vpcd slot to insert the card into)

Debian's package (vsmartcard 0.8) needs three fixes to run on Python 3: its modules are
not on sys.path and it imports Crypto.* while bookworm ships Cryptodome (lab.md §1; the
caller passes a PYTHONPATH with the package directory and a shim directory holding
Crypto -> Cryptodome), and its TLV packer ends with b"".join() over a bytes value, which
raises TypeError on Python 3, so SELECT with an FCI answer crashes the emulator.
fixed_pack below is that packer with the last line corrected; nothing else is changed.
"""
import argparse
import logging

import virtualsmartcard.SmartcardFilesystem as filesystem
import virtualsmartcard.TLVutils as tlvutils
from virtualsmartcard.CardGenerator import CardGenerator
from virtualsmartcard.ConstantDefinitions import FDB
from virtualsmartcard.SmartcardFilesystem import DF, MF, Record, RecordStructureEF
from virtualsmartcard.SmartcardSAM import SAM
from virtualsmartcard.VirtualSmartcard import VirtualICC

SSSE = "sx1.sh.社会保障".encode("gbk")
# A gen-2 card of 李四 (common.md) with a production-style ATR: T=0, 13 historical bytes,
# T8-T9 the region (3501), TA-TD the card serial.
ATR = bytes.fromhex("3B6D00000081544C968684350120000002")


def tlv(tag, value):
    return bytes([tag, len(value)]) + value


def an(text, n):
    b = text.encode("gbk")
    assert len(b) <= n
    return b + b"\x00" * (n - len(b))


def cn(digits, n):
    return bytes.fromhex(digits + "F" * (2 * n - len(digits)))


EF05 = [
    tlv(0x01, bytes.fromhex("350100D156000005200000027B2D0F42")),  # 卡识别码
    tlv(0x02, an("3", 1)),                                          # 卡的类别
    tlv(0x03, an("2.00", 4)),                                       # 规范版本
    tlv(0x04, cn("915600000235010035010001", 12)),                  # 初始化机构编号
    tlv(0x05, cn("20180310", 4)),                                   # 发卡日期
    tlv(0x06, cn("20280310", 4)),                                   # 卡有效期
    tlv(0x07, an("D20000029", 9)),                                  # 卡号
]
EF06 = [
    tlv(0x08, an("350121198511160027", 18)),  # 社会保障号码
    tlv(0x09, an("李四", 30)),                # 姓名 (GBK)
    tlv(0x0A, an("2", 1)),                    # 性别
    tlv(0x0B, cn("01", 1)),                   # 民族
    tlv(0x0C, cn("350121", 3)),               # 出生地
    tlv(0x0D, cn("19851116", 4)),             # 出生日期
    tlv(0x4E, an("", 20)),                    # 姓名扩展
]


def fixed_pack(tlv_data, recalculate_length=False):
    """virtualsmartcard.TLVutils.pack, returning the bytes it built (see above)."""
    result = b""
    for data in tlv_data:
        tag, length, value = data[:3]
        if tag in (0xFF, 0x00):
            result += bytes([tag])
            continue
        if not isinstance(value, bytes):
            value = fixed_pack(value, recalculate_length)
        if recalculate_length:
            length = len(value)
        t = b""
        while tag > 0:
            t = bytes([tag & 0xFF]) + t
            tag >>= 8
        if length < 0x7F:
            l = bytes([length])
        else:
            l = b""
            while length > 0:
                l = bytes([length & 0xFF]) + l
                length >>= 8
            l = bytes([0x80 | len(l)]) + l
        result += t + l + value
    return result


tlvutils.pack = fixed_pack
filesystem.bertlv_pack = lambda data: fixed_pack(data)


def build():
    mf = MF()
    ssse = DF(parent=mf, fid=0xDDF1, dfname=SSSE)
    mf.append(ssse)
    for fid, sfi, records in ((0xEF05, 5, EF05), (0xEF06, 6, EF06)):
        ssse.append(RecordStructureEF(
            parent=ssse, fid=fid, shortfid=sfi,
            filedescriptor=FDB["EFSTRUCTURE_LINEAR_VARIABLE_NOFURTHERINFO"],
            records=[Record(data=r) for r in records]))
    sam = SAM(b"1234", b"1234567890")
    sam.set_MF(mf)
    return mf, sam


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    mf, sam = build()
    CardGenerator.getCard = lambda self: (mf, sam)  # our file system, vicc's card
    vicc = VirtualICC(None, "iso7816", args.host, args.port, logginglevel=logging.ERROR)
    vicc.os.atr = ATR
    print("vicc: card inserted", flush=True)
    vicc.run()


if __name__ == "__main__":
    main()

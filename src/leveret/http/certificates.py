"""When the certificates in a PEM file expire, read from their DER encoding.

Only the validity period is needed (for the certificate-expiration health check), so a
small DER walker reads it instead of a cryptography dependency: Certificate ->
tbsCertificate -> [version], serialNumber, signature, issuer, validity.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.DOTALL)
_SEQUENCE = 0x30
_CONTEXT_0 = 0xA0
_UTC_TIME = 0x17
_GENERALIZED_TIME = 0x18


class CertificateError(ValueError):
    """A PEM block that is not a certificate this reader understands."""


@dataclass(frozen=True)
class Validity:
    not_before: datetime
    not_after: datetime


def _element(der: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at ``offset``."""
    if offset + 2 > len(der):
        raise CertificateError("truncated DER")
    tag = der[offset]
    length = der[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > len(der):
            raise CertificateError("bad DER length")
        length = int.from_bytes(der[start : start + count], "big")
        start += count
    end = start + length
    if end > len(der):
        raise CertificateError("truncated DER")
    return tag, start, end


def _children(der: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    found = []
    offset = start
    while offset < end:
        element = _element(der, offset)
        found.append(element)
        offset = element[2]
    return found


def _time(tag: int, raw: bytes) -> datetime:
    text = raw.decode("ascii")
    if tag == _UTC_TIME:
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != _GENERALIZED_TIME:
        raise CertificateError("validity is not a time")
    return datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def validity(der: bytes) -> Validity:
    """The validity period of one DER-encoded X.509 certificate."""
    tag, start, _ = _element(der, 0)
    if tag != _SEQUENCE:
        raise CertificateError("not a certificate")
    tbs_tag, tbs_start, tbs_end = _element(der, start)
    if tbs_tag != _SEQUENCE:
        raise CertificateError("not a certificate")
    fields = _children(der, tbs_start, tbs_end)
    if fields and fields[0][0] == _CONTEXT_0:  # the optional explicit version
        fields = fields[1:]
    if len(fields) < 4 or fields[3][0] != _SEQUENCE:
        raise CertificateError("not a certificate")
    times = _children(der, fields[3][1], fields[3][2])
    if len(times) != 2:
        raise CertificateError("bad validity")
    (before_tag, before_start, before_end), (after_tag, after_start, after_end) = times
    try:
        return Validity(
            _time(before_tag, der[before_start:before_end]),
            _time(after_tag, der[after_start:after_end]),
        )
    except (UnicodeDecodeError, ValueError) as error:
        raise CertificateError(f"bad validity: {error}") from None


def pem_validities(pem: bytes) -> list[Validity | str]:
    """Each PEM entry's validity, or why it has none (RabbitMQ's wording)."""
    blocks = _PEM_BLOCK.findall(pem)
    if not blocks:
        return ["The certificate file provided does not contain any PEM entry."]
    found: list[Validity | str] = []
    for kind, body in blocks:
        name = kind.decode("ascii")
        if name != "CERTIFICATE":
            found.append(f"The certificate file provided contains a {name} entry")
            continue
        try:
            found.append(validity(base64.b64decode(b"".join(body.split()), validate=True)))
        except (binascii.Error, CertificateError) as error:
            found.append(f"The certificate cannot be read: {error}")
    return found

"""qrscp's configuration file, in the format of DCMTK's dcmqrscp.cfg.

A DCMTK user's file is read as it is (``dicomul qrscp -c dcmqrscp.cfg``):

* global parameters, ``Keyword = value``: NetworkTCPPort, MaxPDUSize and
  MaxAssociations are used; UserName, GroupName, SpecificCharacterSet and
  others are read and ignored (logged);
* ``HostTable BEGIN`` ... ``HostTable END``: symbolic names for peers,
  ``name = (AETitle, HostName, PortNumber), ...`` or ``name = other, ...``;
* ``VendorTable BEGIN`` ... ``VendorTable END``: read, unused;
* ``AETable BEGIN`` ... ``AETable END``, one line per AE title this SCP
  answers to: ``AETitle StorageArea Access Quota Peers``, where Access is
  R (query and retrieve), W (store only) or RW / WR (both), Quota is
  ``(maxStudies, maxBytesPerStudy)`` (kept as dcmqrscp keeps it, deleting
  files: see :mod:`._qrareas`), and Peers is ANY, names from the HostTable, or
  ``(AETitle, HostName, PortNumber)`` triples: the calling AE titles allowed
  to use that AE title.

As in dcmqrscp's file, values are separated by white space, ``=`` or
``,``; a value in double or single quotes or in parentheses is one value
(a parenthesised triple is split again); ``#`` starts a comment line.
Peers are matched by AE title (exactly, as dcmqrscp does) and host: a peer
must call from an address its host name resolves to (DCMTK's dcmqrset.txt,
step 10: the AE title and the host "must match the values known to
dcmqrscp"), else the association is rejected as dcmqrscp rejects it (RJ
1/1/7; ``qrscp.permitted_peers``).  The host and port also serve as a C-MOVE
destination (the AETable's peers first, then the HostTable's, as dcmqrscp
looks them up).
"""

from __future__ import annotations

import logging
import pathlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["Config", "ConfigError", "Peer", "StorageArea", "read_config"]

LOGGER = logging.getLogger("dicomul.app.qrscp")

#: Separators between values, and the characters that open or close a
#: value holding separators (dcmqrscp.cfg's "quote characters").
_GAPS = frozenset(" \t\r\n=,")
_QUOTES = frozenset("\"'()")
_USED_GLOBALS = {"NetworkTCPPort", "MaxPDUSize", "MaxAssociations"}
_ACCESS = {"R": (True, False), "W": (False, True), "RW": (True, True), "WR": (True, True)}
_QUOTA = re.compile(r"(\d+)\s*([kmg]?)b", re.IGNORECASE)
#: The largest quota dcmqrscp 3.6.7 keeps, (maxStudies, maxBytesPerStudy):
#: a larger value is lowered to it, with a warning ("maxStudiesPerStorageArea
#: too large, setting to 500"; "maxBytesPerStudy too large, setting to
#: 1073741824"), as its index database does; seen side by side in
#: conformance/test_apps_qrscp_access.py.
MAX_STUDIES = 500
MAX_BYTES_PER_STUDY = 1 << 30


class ConfigError(ValueError):
    """The configuration file says something that cannot be served; the
    message names the line."""


@dataclass(frozen=True)
class Peer:
    """A peer AE: its title, host and port."""

    title: str
    host: str
    port: int


@dataclass(frozen=True)
class StorageArea:
    """One AE title this SCP answers to, and its storage area."""

    title: str
    directory: pathlib.Path
    #: C-FIND, C-GET and C-MOVE allowed (R, RW); C-STORE allowed (W, RW).
    readable: bool
    writable: bool
    #: The calling AE titles allowed, None for ANY.
    peers: tuple[Peer, ...] | None
    #: The quota as written (maximum studies, maximum bytes per study; -1
    #: for a size without a unit: no byte limit), each lowered to
    #: dcmqrscp's upper limit (:data:`MAX_STUDIES`, :data:`MAX_BYTES_PER_STUDY`),
    #: kept by :class:`._qrareas.Quota`.
    quota: tuple[int, int] | None = None

    def permits(self, calling_ae_title: str) -> bool:
        """Whether ``calling_ae_title`` may use this AE title at all."""
        return self.peers is None or any(p.title == calling_ae_title for p in self.peers)


@dataclass
class Config:
    """What a dcmqrscp.cfg file configures."""

    port: int | None = None
    max_pdu_size: int | None = None
    max_associations: int | None = None
    hosts: dict[str, tuple[Peer, ...]] = field(default_factory=dict)
    vendors: dict[str, str] = field(default_factory=dict)
    areas: dict[str, StorageArea] = field(default_factory=dict)

    def destinations(self) -> dict[str, tuple[str, int]]:
        """C-MOVE destinations: AE title -> (host, port); the AETable's
        peers before the HostTable's, the first of each title kept."""
        found: dict[str, tuple[str, int]] = {}
        peers = [p for area in self.areas.values() for p in area.peers or ()]
        for peer in [*peers, *(p for group in self.hosts.values() for p in group)]:
            found.setdefault(peer.title, (peer.host, peer.port))
        return found

    def calling_titles(self) -> list[str] | None:
        """Every calling AE title some AE title permits; None if one
        permits ANY."""
        if any(area.peers is None for area in self.areas.values()):
            return None
        return sorted({p.title for area in self.areas.values() for p in area.peers or ()})


def values(text: str) -> Iterator[tuple[str, bool]]:
    """The values of a line: (value, quoted)."""
    i, n = 0, len(text)
    while i < n:
        if text[i] in _GAPS:
            i += 1
            continue
        if text[i] in _QUOTES:  # up to the next quote character, whichever
            end = i + 1
            while end < n and text[end] not in _QUOTES:
                end += 1
            yield text[i + 1 : end], True
            i = end + 1
        else:
            end = i
            while end < n and text[end] not in _GAPS:
                end += 1
            yield text[i:end], False
            i = end


class _Reader:
    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.config = Config()
        self.line = 0

    def fail(self, message: str) -> ConfigError:
        return ConfigError(f"{self.path}, line {self.line}: {message}")

    def number(self, text: str, what: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise self.fail(f"{what} {text!r} is not a number") from None
        if value < 0:
            raise self.fail(f"{what} {value} is negative")
        return value

    def peer(self, triple: str) -> Peer:
        parts = [value for value, _ in values(triple)]
        if len(parts) != 3:
            raise self.fail(f"({triple}) is not (AETitle, HostName, PortNumber)")
        title, host, port = parts
        number = self.number(port, "port")
        if not 0 < number < 65536:
            raise self.fail(f"port {number} is not a port number")
        return Peer(_title(title, self), host, number)

    def peers(self, items: list[tuple[str, bool]]) -> tuple[Peer, ...]:
        found: list[Peer] = []
        for value, quoted in items:
            if quoted or "," in value:
                found.append(self.peer(value))
            elif value in self.config.hosts:
                found.extend(self.config.hosts[value])
            else:
                raise self.fail(f"symbolic name {value!r} is not in the HostTable")
        return tuple(found)

    def read(self) -> Config:
        table: str | None = None
        with open(self.path, encoding="utf-8", errors="replace") as lines:
            for self.line, raw in enumerate(lines, start=1):
                text = raw.strip()
                if not text or text.startswith("#"):
                    continue
                items = list(values(text))
                words = [value for value, _ in items]
                if len(words) == 2 and words[1].upper() in ("BEGIN", "END"):
                    if words[1].upper() == "BEGIN":
                        if table is not None:
                            raise self.fail(f"{words[0]} begins inside {table}")
                        table = words[0]
                    elif table != words[0]:
                        raise self.fail(f"{words[0]} END without its BEGIN")
                    else:
                        table = None
                    continue
                if table is None:
                    self.global_parameter(words)
                elif table == "HostTable":
                    if len(items) < 2:
                        raise self.fail("a HostTable entry is: name = (AE, host, port), ...")
                    self.config.hosts[words[0]] = self.peers(items[1:])
                elif table == "VendorTable":
                    if len(words) == 2:
                        self.config.vendors[words[0]] = words[1]
                elif table == "AETable":
                    self.area(items)
                else:
                    raise self.fail(f"unknown table {table!r}")
        if table is not None:
            raise self.fail(f"{table} has no END")
        if not self.config.areas:
            raise ConfigError(f"{self.path}: the AETable names no AE title")
        return self.config

    def global_parameter(self, words: list[str]) -> None:
        if len(words) < 2:
            raise self.fail(f"{words[0]!r} has no value")
        keyword, value = words[0], words[1]
        if keyword == "NetworkTCPPort":
            self.config.port = self.number(value, keyword)
            if not 0 < self.config.port < 65536:
                raise self.fail(f"{keyword} {value} is not a port number")
        elif keyword == "MaxPDUSize":
            self.config.max_pdu_size = self.number(value, keyword)
        elif keyword == "MaxAssociations":
            self.config.max_associations = self.number(value, keyword)
            if self.config.max_associations == 0:
                raise self.fail(f"{keyword} 0: no association could be served")
        else:
            LOGGER.info("%s, line %d: %s is not used here", self.path, self.line, keyword)

    def area(self, items: list[tuple[str, bool]]) -> None:
        if len(items) < 5:
            raise self.fail("an AETable entry is: AETitle StorageArea Access (Quota) Peers")
        title = _title(items[0][0], self)
        if title in self.config.areas:
            raise self.fail(f"AE title {title!r} twice in the AETable")
        access = items[2][0].upper()
        if access not in _ACCESS:
            raise self.fail(f"access {items[2][0]!r} is none of R, W, RW")
        readable, writable = _ACCESS[access]
        peers = None if items[4][0] == "ANY" else self.peers(items[4:])
        self.config.areas[title] = StorageArea(
            title, pathlib.Path(items[1][0]), readable, writable, peers, self.quota(items[3][0])
        )

    def quota(self, text: str) -> tuple[int, int] | None:
        parts = [value for value, _ in values(text)]
        if len(parts) != 2:
            raise self.fail(f"quota ({text}) is not (maxStudies, maxBytesPerStudy)")
        size = _QUOTA.fullmatch(parts[1])
        factor = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
        per_study = int(size.group(1)) * factor[size.group(2).lower()] if size else -1
        studies = self.number(parts[0], "maxStudies")
        if studies > MAX_STUDIES:
            LOGGER.warning(
                "%s, line %d: maxStudies %d is too large: setting it to %d, as dcmqrscp does",
                self.path, self.line, studies, MAX_STUDIES,
            )  # fmt: skip
            studies = MAX_STUDIES
        if per_study > MAX_BYTES_PER_STUDY:
            LOGGER.warning(
                "%s, line %d: maxBytesPerStudy %d is too large: setting it to %d, "
                "as dcmqrscp does",
                self.path, self.line, per_study, MAX_BYTES_PER_STUDY,
            )  # fmt: skip
            per_study = MAX_BYTES_PER_STUDY
        return studies, per_study


def _title(text: str, reader: _Reader) -> str:
    from . import _cli  # noqa: PLC0415

    try:
        return _cli.ae_title(text)
    except Exception as exc:
        raise reader.fail(f"{text!r}: {exc}") from None


def read_config(path: str | pathlib.Path) -> Config:
    """The configuration in file ``path``; ConfigError (or OSError) if it
    cannot be used."""
    return _Reader(pathlib.Path(path)).read()

"""``dicomul <app> [options]``: run one of the applications.

``dicomul --help`` lists them; ``dicomul <app> --help`` lists an app's options.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence

#: App name -> one line about it (the module is dicomul_sync.apps.<name>).
APPS = {
    "echoscu": "DICOM verification (C-ECHO) SCU",
    "echoscp": "DICOM verification (C-ECHO) SCP",
    "storescu": "DICOM storage (C-STORE) SCU: send files and directories",
    "storescp": "DICOM storage (C-STORE) SCP: receive into a directory, durably",
    "findscu": "DICOM query (C-FIND) SCU",
    "getscu": "DICOM retrieve (C-GET) SCU",
    "movescu": "DICOM retrieve (C-MOVE) SCU",
    "qrscp": "DICOM query/retrieve SCP over an indexed directory (C-FIND, C-GET, C-MOVE, C-STORE)",
    "dump": "show the DICOM associations in a pcap or pcapng capture (needs the dump extra)",
}


def usage() -> str:
    lines = ["usage: dicomul <app> [options]", "", "apps:"]
    lines += [f"  {name:<10} {about}" for name, about in APPS.items()]
    lines += ["", "dicomul <app> --help lists the options of an app; --version the version."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    if args[0] == "--version":
        from dicomul import __version__  # noqa: PLC0415 - only when asked

        print(f"dicomul {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in APPS:
        print(f"dicomul: no app named {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    app = importlib.import_module(f"dicomul_sync.apps.{name}")
    try:
        result: int = app.main(rest)
    except KeyboardInterrupt:
        print("E: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, or a case no E: line foresaw: never a bare traceback
        if "-d" in rest or "--debug" in rest:
            traceback.print_exc()
        print(f"F: {name}: {type(exc).__name__}: {exc} (-d shows where)", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())

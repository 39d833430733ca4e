"""DCMTK 3.6.7 options the apps neither have nor should misread.

Each app's DCMTK namesake was compared with it (``<tool> --help`` against
``dicomul <app> --help``, issue 17).  What was missing falls in three kinds:

* DCMTK's default spelled out, which is what the app does anyway: taken and
  ignored (:data:`SAME_AS_DEFAULT`), so a script that spells it runs;
* anything else: refused by name with the reason (:data:`WHY`), rather than
  misread (``+cl`` as ``+c l``) or reported as an unknown argument;
* the few worth having were added to the apps themselves (qrscp's
  ``--refuse``, ``--reject``, ``--disable-get``, ``-QP -QS -QO``; movescu's
  ``--no-port``), and are skipped here because the parser knows them.
"""

from __future__ import annotations

import argparse

from . import _cli

__all__ = ["refuse_the_rest"]

_TLS_FILES = "TLS keys and certificates are PEM files, verified as Python's ssl does"
_PRNG = "the TLS random generator is the system's (no seed files)"
_PROFILE = "TLS uses Python's ssl defaults (TLS 1.2 or later), no DCMTK security profile"
_WRITE = "files are written as received: no re-encoding options"
_MPEG = "MPEG and HEVC transfer syntaxes are not proposed or preferred"
_PREFER = "compressed syntaxes are accepted by default (uncompressed preferred): drop the option"
_PROPOSE = "the retrieve proposes the uncompressed transfer syntaxes, explicit little endian first"
_CHARSET = "character sets are answered as stored: no conversion"

#: Why each option is refused (by its DCMTK spelling, short and long).
WHY: dict[str, str] = {
    "--arguments": "no command files (@file) are expanded: nothing to print",
    "+v": "the debug log (-d) shows the presentation contexts",
    "--verbose-pc": "the debug log (-d) shows the presentation contexts",
    "-der": _TLS_FILES,
    "--der-keys": _TLS_FILES,
    "+crl": _TLS_FILES,
    "--add-crl-file": _TLS_FILES,
    "+crv": _TLS_FILES,
    "--enable-crl-vfy": _TLS_FILES,
    "+cra": _TLS_FILES,
    "--enable-crl-all": _TLS_FILES,
    "+rc": _TLS_FILES,
    "--is-root-cert": _TLS_FILES,
    "+vc": _TLS_FILES,
    "--verify-cert": _TLS_FILES,
    "+dp": _TLS_FILES,
    "--dhparam": _TLS_FILES,
    "+py": _PROFILE,
    "--profile-bcp195-nd": _PROFILE,
    "+px": _PROFILE,
    "--profile-bcp195": _PROFILE,
    "+pz": _PROFILE,
    "--profile-bcp195-ex": _PROFILE,
    "+pa": _PROFILE,
    "--profile-aes": _PROFILE,
    "+pn": _PROFILE,
    "--profile-null": _PROFILE,
    "+cc": _PROFILE,
    "--list-ciphers": _PROFILE,
    "+cs": _PROFILE,
    "--cipher": _PROFILE,
    "+rs": _PRNG,
    "--seed": _PRNG,
    "+ws": _PRNG,
    "--write-seed": _PRNG,
    "+wf": _PRNG,
    "--write-seed-file": _PRNG,
    "+f": "files are read as DICOM files, with or without meta information",
    "--read-file": "files are read as DICOM files, with or without meta information",
    "+fo": "files are read as DICOM files, with or without meta information",
    "--read-file-only": "files are read as DICOM files, with or without meta information",
    "-f": "files are read as DICOM files, with or without meta information",
    "--read-dataset": "files are read as DICOM files, with or without meta information",
    "+C": "each file is sent on its own presentation context",
    "--combine": "each file is sent on its own presentation context",
    "--max-send-pdu": "the peer's maximum PDU length is used as it is",
    "+IR": "UIDs are never invented: files are sent as they are",
    "--invent-series": "UIDs are never invented: files are sent as they are",
    "+IS": "UIDs are never invented: files are sent as they are",
    "--invent-study": "UIDs are never invented: files are sent as they are",
    "+IP": "UIDs are never invented: files are sent as they are",
    "--invent-patient": "UIDs are never invented: files are sent as they are",
    "-up": "UIDs are taken as they are (a padded UID is not corrected)",
    "--uid-padding": "UIDs are taken as they are (a padded UID is not corrected)",
    "+u": _WRITE,
    "--enable-new-vr": _WRITE,
    "-u": _WRITE,
    "--disable-new-vr": _WRITE,
    "+cl": _WRITE,
    "--compression-level": _WRITE,
    "-B": _WRITE,
    "--normal": _WRITE,
    "+B": _WRITE,
    "--bit-preserving": _WRITE,
    "-F": "files are always written in the Part 10 format",
    "--write-dataset": "files are always written in the Part 10 format",
    "+te": _WRITE,
    "--write-xfer-little": _WRITE,
    "+tb": _WRITE,
    "--write-xfer-big": _WRITE,
    "+ti": _WRITE,
    "--write-xfer-implicit": _WRITE,
    "+td": _WRITE,
    "--write-xfer-deflated": _WRITE,
    "+g=": _WRITE,
    "--group-length-recalc": _WRITE,
    "+g": _WRITE,
    "--group-length-create": _WRITE,
    "-g": _WRITE,
    "--group-length-remove": _WRITE,
    "+e": _WRITE,
    "--length-explicit": _WRITE,
    "-e": _WRITE,
    "--length-undefined": _WRITE,
    "-p": _WRITE,
    "--padding-off": _WRITE,
    "+p": _WRITE,
    "--padding-create": _WRITE,
    "+uc": _WRITE,
    "--convert-un": _WRITE,
    "-xm": _MPEG,
    "--propose-mpeg2": _MPEG,
    "-xh": _MPEG,
    "--propose-mpeg2-high": _MPEG,
    "-xn": _MPEG,
    "--propose-mpeg4": _MPEG,
    "-xl": _MPEG,
    "--propose-mpeg4-bd": _MPEG,
    "-x2": _MPEG,
    "--propose-mpeg4-2-2d": _MPEG,
    "-x3": _MPEG,
    "--propose-mpeg4-2-3d": _MPEG,
    "-xo": _MPEG,
    "--propose-mpeg4-2-st": _MPEG,
    "-x4": _MPEG,
    "--propose-hevc": _MPEG,
    "-x5": _MPEG,
    "--propose-hevc10": _MPEG,
    "+xm": _MPEG,
    "--prefer-mpeg2": _MPEG,
    "+xh": _MPEG,
    "--prefer-mpeg2-high": _MPEG,
    "+xn": _MPEG,
    "--prefer-mpeg4": _MPEG,
    "+xl": _MPEG,
    "--prefer-mpeg4-bd": _MPEG,
    "+x2": _MPEG,
    "--prefer-mpeg4-2-2d": _MPEG,
    "+x3": _MPEG,
    "--prefer-mpeg4-2-3d": _MPEG,
    "+xo": _MPEG,
    "--prefer-mpeg4-2-st": _MPEG,
    "+x4": _MPEG,
    "--prefer-hevc": _MPEG,
    "+x5": _MPEG,
    "--prefer-hevc10": _MPEG,
    "+xs": _PREFER,
    "--prefer-lossless": _PREFER,
    "+xy": _PREFER,
    "--prefer-jpeg8": _PREFER,
    "+xx": _PREFER,
    "--prefer-jpeg12": _PREFER,
    "+xv": _PREFER,
    "--prefer-j2k-lossless": _PREFER,
    "+xw": _PREFER,
    "--prefer-j2k-lossy": _PREFER,
    "+xt": _PREFER,
    "--prefer-jls-lossless": _PREFER,
    "+xu": _PREFER,
    "--prefer-jls-lossy": _PREFER,
    "+xr": _PREFER,
    "--prefer-rle": _PREFER,
    "+xd": _PREFER,
    "--prefer-deflated": _PREFER,
    "-x=": _PROPOSE,
    "--propose-uncompr": _PROPOSE,
    "-xe": _PROPOSE,
    "--propose-little": _PROPOSE,
    "-xb": _PROPOSE,
    "--propose-big": _PROPOSE,
    "-xd": _PROPOSE,
    "--propose-deflated": _PROPOSE,
    "-xi": _PROPOSE,
    "--propose-implicit": _PROPOSE,
    "+ac": "no TCP wrapper: every host may connect (use a firewall)",
    "--access-control": "no TCP wrapper: every host may connect (use a firewall)",
    "-ts": "a server gives up on a silent peer after -to",
    "--socket-timeout": "a server gives up on a silent peer after -to",
    "--sleep-after": "no test delays",
    "--sleep-during": "no test delays",
    "--abort-after": "no test aborts",
    "--abort-during": "no test aborts",
    "+dc": "query keys are sent as given",
    "--enable-correction": "query keys are sent as given",
    "-dc": "query keys are sent as given",
    "--disable-correction": "query keys are sent as given",
    "-Xx": "responses are written as DICOM files (-X), not XML",
    "--extract-xml": "responses are written as DICOM files (-X), not XML",
    "-Xs": "responses are written as DICOM files (-X), not XML",
    "--extract-xml-single": "responses are written as DICOM files (-X), not XML",
    "-Xlo": "responses are written as DICOM files (-X), not XML",
    "--limit-output": "responses are written as DICOM files (-X), not XML",
    "-pi": "pending responses are read as they come",
    "--pending-ignore": "pending responses are read as they come",
    "-pr": "pending responses are read as they come",
    "--pending-read": "pending responses are read as they come",
    "--fork": "associations are served in threads (storescp alone has --fork)",
    "--require-find": "C-GET and C-MOVE contexts are accepted without a C-FIND one",
    "--no-parallel-store": "C-STOREs into one area are taken in parallel",
    "--allow-shutdown": "no shutdown by a private SOP class: send SIGTERM",
    "-XF": "identifiers are checked as PS3.4 C.4 says, always",
    "--check-find": "identifiers are checked as PS3.4 C.4 says, always",
    "--no-check-find": "identifiers are checked as PS3.4 C.4 says, always",
    "-XM": "identifiers are checked as PS3.4 C.4 says, always",
    "--check-move": "identifiers are checked as PS3.4 C.4 says, always",
    "--no-check-move": "identifiers are checked as PS3.4 C.4 says, always",
    "-ZA": "a move destination is any known AE title (-ae, the configuration)",
    "--move-aetitle": "a move destination is any known AE title (-ae, the configuration)",
    "-ZH": "a move destination is any known AE title (-ae, the configuration)",
    "--move-host": "a move destination is any known AE title (-ae, the configuration)",
    "-ZV": "a move destination is any known AE title (-ae, the configuration)",
    "--move-vendor": "a move destination is any known AE title (-ae, the configuration)",
    "-xf": "association profiles from a configuration file are not read",
    "--assoc-config-file": "association profiles from a configuration file are not read",
    "-xs": "the sub-operations propose the transfer syntax of each file",
    "--propose-lossless": "the sub-operations propose the transfer syntax of each file",
    "-xy": "the sub-operations propose the transfer syntax of each file",
    "--propose-jpeg8": "the sub-operations propose the transfer syntax of each file",
    "-xx": "the sub-operations propose the transfer syntax of each file",
    "--propose-jpeg12": "the sub-operations propose the transfer syntax of each file",
    "-xv": "the sub-operations propose the transfer syntax of each file",
    "--propose-j2k-lossless": "the sub-operations propose the transfer syntax of each file",
    "-xw": "the sub-operations propose the transfer syntax of each file",
    "--propose-j2k-lossy": "the sub-operations propose the transfer syntax of each file",
    "-xt": "the sub-operations propose the transfer syntax of each file",
    "--propose-jls-lossless": "the sub-operations propose the transfer syntax of each file",
    "-xu": "the sub-operations propose the transfer syntax of each file",
    "--propose-jls-lossy": "the sub-operations propose the transfer syntax of each file",
    "-xr": "the sub-operations propose the transfer syntax of each file",
    "--propose-rle": "the sub-operations propose the transfer syntax of each file",
    "--ignore": "a storage area keeps what it is sent",
    "+Cr": _CHARSET,
    "--use-request-charset": _CHARSET,
    "--convert-to-xxx": _CHARSET,
    "-Cr": _CHARSET,
    "--override-charset": _CHARSET,
    "+A7": _CHARSET,
    "--convert-to-ascii": _CHARSET,
    "+U8": _CHARSET,
    "--convert-to-utf8": _CHARSET,
    "+L1": _CHARSET,
    "--convert-to-latin1": _CHARSET,
    "--convert-to-charset": _CHARSET,
    "-Ct": _CHARSET,
    "--transliterate": _CHARSET,
    "-Cd": _CHARSET,
    "--discard-illegal": _CHARSET,
}

#: DCMTK's defaults spelled out, which each app does anyway: taken, ignored.
SAME_AS_DEFAULT = frozenset(
    {
        "-pem",  # keys and certificates are PEM files, the only format here
        "--pem-keys",
        "--single-process",  # one process serves every association (threads)
        "-s",
        "-ac",  # every host may connect
        "--access-full",
        "+F",  # received objects are written as Part 10 files
        "--write-file",
        "+t=",  # ... in the transfer syntax received
        "--write-xfer-same",
        "-uc",  # UN elements are kept as UN
        "--retain-un",
        "--move-unrestricted",  # any known move destination is served
    }
)

#: For each app, the DCMTK 3.6.7 options of its namesake it does not have
#: otherwise (``storescp`` and ``storescu`` list some more of their own).
APPS: dict[str, str] = {
    "echoscu": "--arguments -pem --pem-keys -der --der-keys +crl --add-crl-file +crv "
    "--enable-crl-vfy +cra --enable-crl-all +py --profile-bcp195-nd +px --profile-bcp195 "
    "+pz --profile-bcp195-ex +pa --profile-aes +pn --profile-null +cc --list-ciphers +cs "
    "--cipher +rs --seed +ws --write-seed +wf --write-seed-file +vc --verify-cert +rc "
    "--is-root-cert",
    "storescu": "--arguments +v --verbose-pc +f --read-file +fo --read-file-only -f "
    "--read-dataset -xm --propose-mpeg2 -xh --propose-mpeg2-high -xn --propose-mpeg4 -xl "
    "--propose-mpeg4-bd -x2 --propose-mpeg4-2-2d -x3 --propose-mpeg4-2-3d -xo "
    "--propose-mpeg4-2-st -x4 --propose-hevc -x5 --propose-hevc10 +C --combine +u "
    "--enable-new-vr -u --disable-new-vr +cl --compression-level --max-send-pdu -up "
    "--uid-padding +IR --invent-series +IS --invent-study +IP --invent-patient -pem "
    "--pem-keys -der --der-keys +crl --add-crl-file +crv --enable-crl-vfy +cra "
    "--enable-crl-all +py --profile-bcp195-nd +px --profile-bcp195 +pz --profile-bcp195-ex "
    "+pa --profile-aes +pn --profile-null +cc --list-ciphers +cs --cipher +rs --seed +ws "
    "--write-seed +wf --write-seed-file",
    "storescp": "--arguments +v --verbose-pc --single-process +xs --prefer-lossless +xy "
    "--prefer-jpeg8 +xx --prefer-jpeg12 +xv --prefer-j2k-lossless +xw --prefer-j2k-lossy "
    "+xt --prefer-jls-lossless +xu --prefer-jls-lossy +xm --prefer-mpeg2 +xh "
    "--prefer-mpeg2-high +xn --prefer-mpeg4 +xl --prefer-mpeg4-bd +x2 --prefer-mpeg4-2-2d "
    "+x3 --prefer-mpeg4-2-3d +xo --prefer-mpeg4-2-st +x4 --prefer-hevc +x5 --prefer-hevc10 "
    "+xr --prefer-rle +xd --prefer-deflated -ac --access-full +ac --access-control -ts "
    "--socket-timeout --sleep-after --sleep-during --abort-after --abort-during -up "
    "--uid-padding -pem --pem-keys -der --der-keys +crl --add-crl-file +crv "
    "--enable-crl-vfy +cra --enable-crl-all +py --profile-bcp195-nd +px --profile-bcp195 "
    "+pz --profile-bcp195-ex +pa --profile-aes +pn --profile-null +cc --list-ciphers +cs "
    "--cipher +dp --dhparam +rs --seed +ws --write-seed +wf --write-seed-file -B --normal "
    "+B --bit-preserving +F --write-file +t= --write-xfer-same +te --write-xfer-little +tb "
    "--write-xfer-big +ti --write-xfer-implicit +td --write-xfer-deflated +u "
    "--enable-new-vr -u --disable-new-vr +g= --group-length-recalc +g "
    "--group-length-create -g --group-length-remove +e --length-explicit -e "
    "--length-undefined -p --padding-off +p --padding-create -uc --retain-un +uc "
    "--convert-un +cl --compression-level",
    "findscu": "--arguments +u --enable-new-vr -u --disable-new-vr -x= --propose-uncompr -xe "
    "--propose-little -xb --propose-big -xd --propose-deflated -xi --propose-implicit +cl "
    "--compression-level -pem --pem-keys -der --der-keys +crl --add-crl-file +crv "
    "--enable-crl-vfy +cra --enable-crl-all +py --profile-bcp195-nd +px --profile-bcp195 "
    "+pz --profile-bcp195-ex +pa --profile-aes +pn --profile-null +cc --list-ciphers +cs "
    "--cipher +rs --seed +ws --write-seed +wf --write-seed-file +dc --enable-correction -dc "
    "--disable-correction -Xx --extract-xml -Xs --extract-xml-single -Xlo --limit-output",
    "getscu": "--arguments +v --verbose-pc +xm --prefer-mpeg2 +xh --prefer-mpeg2-high +xn "
    "--prefer-mpeg4 +xl --prefer-mpeg4-bd +x2 --prefer-mpeg4-2-2d +x3 --prefer-mpeg4-2-3d "
    "+xo --prefer-mpeg4-2-st +x4 --prefer-hevc +x5 --prefer-hevc10 -x= --propose-uncompr "
    "-xe --propose-little -xb --propose-big -xd --propose-deflated -xi --propose-implicit "
    "-B --normal +B --bit-preserving",
    "movescu": "--arguments +xm --prefer-mpeg2 +xh --prefer-mpeg2-high +xn --prefer-mpeg4 "
    "+xl --prefer-mpeg4-bd +x2 --prefer-mpeg4-2-2d +x3 --prefer-mpeg4-2-3d +xo "
    "--prefer-mpeg4-2-st +x4 --prefer-hevc +x5 --prefer-hevc10 -x= --propose-uncompr -xe "
    "--propose-little -xb --propose-big -xd --propose-deflated -xi --propose-implicit -ac "
    "--access-full +ac --access-control -pi --pending-ignore -pr --pending-read -up "
    "--uid-padding -B --normal +B --bit-preserving +F --write-file -F --write-dataset +t= "
    "--write-xfer-same +te --write-xfer-little +tb --write-xfer-big +ti "
    "--write-xfer-implicit +td --write-xfer-deflated +u --enable-new-vr -u "
    "--disable-new-vr +g= --group-length-recalc +g --group-length-create -g "
    "--group-length-remove +e --length-explicit -e --length-undefined -p --padding-off +p "
    "--padding-create +cl --compression-level",
    "qrscp": "--arguments -s --single-process --fork --require-find --no-parallel-store "
    "--allow-shutdown -XF --check-find --no-check-find -XM --check-move --no-check-move "
    "--move-unrestricted -ZA --move-aetitle -ZH --move-host -ZV --move-vendor -xf "
    "--assoc-config-file +xs --prefer-lossless +xy --prefer-jpeg8 +xx --prefer-jpeg12 +xv "
    "--prefer-j2k-lossless +xw --prefer-j2k-lossy +xt --prefer-jls-lossless +xu "
    "--prefer-jls-lossy +xm --prefer-mpeg2 +xh --prefer-mpeg2-high +xn --prefer-mpeg4 +xl "
    "--prefer-mpeg4-bd +x2 --prefer-mpeg4-2-2d +x3 --prefer-mpeg4-2-3d +xo "
    "--prefer-mpeg4-2-st +x4 --prefer-hevc +x5 --prefer-hevc10 +xr --prefer-rle +xd "
    "--prefer-deflated --propose-uncompr --propose-little --propose-big --propose-implicit "
    "-xs --propose-lossless -xy --propose-jpeg8 -xx --propose-jpeg12 -xv "
    "--propose-j2k-lossless -xw --propose-j2k-lossy -xt --propose-jls-lossless -xu "
    "--propose-jls-lossy -xm --propose-mpeg2 -xh --propose-mpeg2-high -xn --propose-mpeg4 "
    "-xl --propose-mpeg4-bd -x2 --propose-mpeg4-2-2d -x3 --propose-mpeg4-2-3d -xo "
    "--propose-mpeg4-2-st -x4 --propose-hevc -x5 --propose-hevc10 -xr --propose-rle -xd "
    "--propose-deflated -ac --access-full +ac --access-control --ignore -up --uid-padding "
    "+Cr --use-request-charset --convert-to-xxx -Cr --override-charset +A7 "
    "--convert-to-ascii +U8 --convert-to-utf8 +L1 --convert-to-latin1 +C "
    "--convert-to-charset -Ct --transliterate -Cd --discard-illegal -B --normal +B "
    "--bit-preserving +F --write-file -F --write-dataset +t= --write-xfer-same +te "
    "--write-xfer-little +tb --write-xfer-big +ti --write-xfer-implicit +td "
    "--write-xfer-deflated +u --enable-new-vr -u --disable-new-vr +g= --group-length-recalc "
    "+g --group-length-create -g --group-length-remove +e --length-explicit -e "
    "--length-undefined -p --padding-off +p --padding-create +cl --compression-level",
}

#: Options whose reason depends on the app.
_PER_APP = {
    ("qrscp", "+C"): _CHARSET,
    ("qrscp", "-xd"): "the sub-operations propose the transfer syntax of each file",
    ("qrscp", "--propose-deflated"): "the sub-operations propose the transfer syntax of each file",
    ("qrscp", "-F"): "the storage areas keep Part 10 files",
    ("findscu", "+cl"): "Deflated is not proposed: no compression level",
    ("findscu", "--compression-level"): "Deflated is not proposed: no compression level",
    ("findscu", "+u"): "query files are read as they are",
    ("findscu", "--enable-new-vr"): "query files are read as they are",
    ("findscu", "-u"): "query files are read as they are",
    ("findscu", "--disable-new-vr"): "query files are read as they are",
    ("storescu", "+cl"): "files are sent as they are: no compression level",
    ("storescu", "--compression-level"): "files are sent as they are: no compression level",
    ("storescu", "+u"): "files are sent as they are",
    ("storescu", "--enable-new-vr"): "files are sent as they are",
    ("storescu", "-u"): "files are sent as they are",
    ("storescu", "--disable-new-vr"): "files are sent as they are",
}


def refuse_the_rest(p: argparse.ArgumentParser, app: str) -> None:
    """Take DCMTK's defaults spelled out, and refuse by name every other
    option of ``app``'s DCMTK namesake that the parser does not know."""
    known = set(p._option_string_actions)
    names = [name for name in APPS[app].split() if name not in known]
    quiet = [name for name in names if name in SAME_AS_DEFAULT]
    if quiet:
        p.add_argument(*quiet, action="store_true", dest="dcmtk_default", help=argparse.SUPPRESS)
    _cli.refuse_options(
        p,
        app,
        {
            name: _PER_APP.get((app, name)) or WHY[name]
            for name in names
            if name not in SAME_AS_DEFAULT
        },
    )

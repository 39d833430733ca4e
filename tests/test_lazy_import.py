"""``dicomul`` imports its names lazily, and a short app run stays light (issue 16).

``dicomul/__init__.py`` imports each public name from its private module on
first use (PEP 562); the imports the type checker reads sit under
``if TYPE_CHECKING:``.  These tests keep the two lists equal, check that every
public name still resolves, and guard what a ``dicomul echoscu`` process
loads: which modules, never how long it took (the time is measured by
``bench/run_startup.py``).
"""

from __future__ import annotations

import ast
import contextlib
import pathlib
import socket
import subprocess
import sys
import textwrap
import time

import dicomul

INIT = pathlib.Path(dicomul.__file__)


def type_checking_imports() -> dict[str, str]:
    """Public name -> module, as the ``if TYPE_CHECKING:`` block imports it."""
    found: dict[str, str] = {}
    for node in ast.parse(INIT.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                for alias in statement.names:
                    module = f".{statement.module}" if statement.module else f".{alias.name}"
                    found[alias.name] = module
    return found


def test_the_lazy_table_is_what_the_type_checker_reads() -> None:
    assert type_checking_imports() == dicomul._LAZY


def test_every_public_name_resolves_from_its_module() -> None:
    assert set(dicomul.__all__) | {"encode_dataset", "decode_dataset"} == {
        *dicomul._LAZY,
        "__version__",
    }
    for name in dicomul.__all__:
        assert getattr(dicomul, name) is not None, name
    assert set(dicomul.__all__) <= set(dir(dicomul))


def test_a_name_that_is_not_public_is_an_attribute_error() -> None:
    try:
        dicomul.no_such_name  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("dicomul.no_such_name resolved")


def run_and_list_modules(code: str) -> set[str]:
    """The modules loaded once ``code`` has run in a fresh interpreter."""
    script = textwrap.dedent(code) + "\nimport sys\nprint(' '.join(sorted(sys.modules)))\n"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return set(out.stdout.splitlines()[-1].split())


#: What a C-ECHO never needs: pydicom (data sets), the query/retrieve and
#: capture machinery of the core, TLS (unless asked for), the async stacks.
NOT_FOR_AN_ECHO = {
    "pydicom",
    "numpy",
    "asyncio",
    "anyio",
    "trio",
    "hypothesis",
    "dicomul._dataset",
    "dicomul._conversation",
    "dicomul._matching",
    "dicomul._qr",
}


#: What an SCU run without TLS or a log config file never needs.
NOT_FOR_A_PLAIN_SCU = {
    "ssl",
    "logging.config",
    "concurrent.futures",
    "dicomul_sync.server",
    "dicomul_sync._accept",
    "shutil",  # argparse's help formatter would import it for the terminal's width
    "encodings.idna",  # getaddrinfo would import it for a str host name
}


def test_importing_the_engine_loads_only_what_it_needs() -> None:
    loaded = run_and_list_modules("from dicomul import Connection, pdu")
    assert loaded & NOT_FOR_AN_ECHO == set()
    assert {"dicomul._connection", "dicomul.pdu"} <= loaded


def test_echoscu_help_loads_no_library_beyond_the_app() -> None:
    loaded = run_and_list_modules(
        """
        import contextlib, io
        from dicomul_sync.apps.__main__ import main
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            main(["echoscu", "--help"])
        """
    )
    assert "dicomul_sync.apps.echoscu" in loaded
    assert loaded & (NOT_FOR_AN_ECHO | NOT_FOR_A_PLAIN_SCU) == set()
    # Help needs no association machinery (dicomul_sync's names are lazy).
    assert loaded & {"dicomul_sync.ae", "dicomul_sync.association", "dicomul._connection"} == set()
    # Other apps are not imported for this one.
    assert {m for m in loaded if m.startswith("dicomul_sync.apps.")} <= {
        "dicomul_sync.apps.__main__",
        "dicomul_sync.apps.echoscu",
        "dicomul_sync.apps._cli",
        "dicomul_sync.apps._dcmtk",  # the DCMTK options it refuses by name
        "dicomul_sync.apps._exit",
        "dicomul_sync.apps._tls",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_dicomul_sync_names_resolve_lazily() -> None:
    loaded = run_and_list_modules("import dicomul_sync")
    assert "dicomul_sync.association" not in loaded
    loaded = run_and_list_modules(
        "from dicomul_sync import AE, Association, ServiceRequest, StoreSink, current_request"
    )
    assert {"dicomul_sync.ae", "dicomul_sync.association"} <= loaded
    # dir() lists the lazy names: Sphinx's autodoc finds members through it.
    import dicomul_sync

    assert {"AE", "Association", "ServiceRequest"} <= set(dir(dicomul_sync))


def test_an_echo_loads_no_pydicom_nor_tls_nor_server() -> None:
    # A real C-ECHO, run by the app in a fresh interpreter, to the echoscp app.
    port = free_port()
    scp = subprocess.Popen(
        [sys.executable, "-m", "dicomul_sync.apps", "echoscp", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            time.sleep(0.05)  # the SCP process is starting
        loaded = run_and_list_modules(
            f"""
            from dicomul_sync.apps.__main__ import main
            assert main(["echoscu", "127.0.0.1", "{port}"]) == 0
            """
        )
    finally:
        scp.terminate()
        scp.wait(10)
    assert {"dicomul_sync.apps.echoscu", "dicomul_sync.association"} <= loaded
    assert loaded & NOT_FOR_AN_ECHO == set()
    # An SCU without TLS options imports no TLS, no SCP and no log-config machinery.
    assert loaded & NOT_FOR_A_PLAIN_SCU == set()

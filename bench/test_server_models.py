"""Smoke test of ``server_models.py``: every model serves C-ECHO and C-STORE.

No timing is asserted (``bench/`` is not a timing test, and is not in the
repository's ``testpaths``); run it with
``.venv/bin/python -m pytest bench/test_server_models.py -p no:cacheprovider``.
It needs DCMTK and takes a few seconds.
"""

from __future__ import annotations

import pathlib

import pytest
import server_models as sm


@pytest.fixture(scope="module")
def ct_file(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    try:
        sm.dcmtk("echoscu")
    except RuntimeError as exc:  # DCMTKNotFoundError
        pytest.skip(str(exc))
    return sm.make_ct_file(tmp_path_factory.mktemp("ct"), 0.25)


@pytest.mark.parametrize("model", sm.MODELS)
def test_model_serves_echo_and_store(model: str, ct_file: pathlib.Path) -> None:
    settings = sm.ServerSettings(model, sm.free_port(), maximum_associations=10)
    with sm.running(settings) as server:
        echoes = sm.run_clients(server, [sm.echo_command(server.port, 20)] * 3, 30)
        stores = sm.run_clients(server, [sm.store_command(server.port, ct_file, 2)] * 2, 30)
        if model != "A":  # model A waits for ARTIM here (see bench/README.md)
            behind_idle = sm.idle_task(11, 10).run(server)
            assert behind_idle.failed == 0
    assert echoes.failed == 0
    assert stores.failed == 0

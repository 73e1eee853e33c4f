# Makes the repository root importable (sslcore, app helpers) for the tests, whichever folder pytest starts in.
import sys

import pytest


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Streamlit's script runner (AppTest) installs the app script as `__main__`; put pytest's back afterwards.

    Otherwise a later test that starts a `spawn` multiprocessing child makes the child re-run app.py as its main.
    """
    main = sys.modules.get("__main__")
    yield
    sys.modules["__main__"] = main


@pytest.fixture(autouse=True, scope="session")
def _decoded_image_cache(tmp_path_factory):
    """Decoded image folders (sslcore/data/decode_cache.py) are cached in a folder of this test session, never in
    the user's ~/.cache; child processes (background runs) inherit it."""
    import os

    os.environ["SSL_LENS_CACHE"] = str(tmp_path_factory.mktemp("decoded-cache"))
    yield


@pytest.fixture(autouse=True)
def _stop_upkeep_threads():
    """The app starts one upkeep thread per runs folder (it repairs the store and starts queued runs). A page test
    that queued runs with the trainer patched out would otherwise leave it running, and once the patch is undone
    it would start real trainers in the test's folder for the rest of the session."""
    yield
    live_cache = sys.modules.get("lens_ui.live_cache")
    if live_cache is not None:
        live_cache.stop_all_upkeep()

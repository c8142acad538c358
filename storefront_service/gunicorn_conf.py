"""gunicorn settings for the storefront (environment overrides in servicekit)."""

import os
import shutil
import tempfile

from servicekit.gunicorn_defaults import child_exit, prepare_metrics_dir, settings

prepare_metrics_dir("storefront")
# Password-hashing slots shared by this master's workers (storefront_service/identity.py).
# A directory this master made is its own, so it goes when the master exits.
_own_lock_dir = None
if not os.environ.get("LOGIN_HASH_LOCK_DIR"):
    _own_lock_dir = tempfile.mkdtemp(prefix="etalase-login-hash-")
    os.environ["LOGIN_HASH_LOCK_DIR"] = _own_lock_dir
globals().update(settings(default_port=8001))


def on_exit(_server):
    if _own_lock_dir:
        shutil.rmtree(_own_lock_dir, ignore_errors=True)


__all__ = ["child_exit", "on_exit"]

"""gunicorn settings for the storefront (environment overrides in servicekit)."""

import os
import tempfile

from servicekit.gunicorn_defaults import child_exit, prepare_metrics_dir, settings

prepare_metrics_dir("storefront")
# Password-hashing slots shared by this master's workers (storefront_service/identity.py).
os.environ.setdefault("LOGIN_HASH_LOCK_DIR", tempfile.mkdtemp(prefix="etalase-login-hash-"))
globals().update(settings(default_port=8001))

__all__ = ["child_exit"]

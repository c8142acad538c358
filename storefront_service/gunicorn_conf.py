"""gunicorn settings for the storefront (environment overrides in servicekit)."""

from servicekit.gunicorn_defaults import child_exit, prepare_metrics_dir, settings

prepare_metrics_dir("storefront")
globals().update(settings(default_port=8001))

__all__ = ["child_exit"]

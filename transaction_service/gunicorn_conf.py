"""gunicorn settings for the marketplace (environment overrides in servicekit)."""

from servicekit.gunicorn_defaults import child_exit, prepare_metrics_dir, settings

prepare_metrics_dir("transaction")
globals().update(settings(default_port=8002))

__all__ = ["child_exit"]

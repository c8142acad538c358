"""gunicorn settings for the payment sandbox (environment overrides in servicekit)."""

from servicekit.gunicorn_defaults import child_exit, prepare_metrics_dir, settings

prepare_metrics_dir("payment-sandbox")
globals().update(settings(default_port=8003))
# gunicorn >= 24 opens a control socket at one fixed per-user path by default; several
# masters on one machine (make run, the test stacks) would take it from each other.
control_socket_disable = True

__all__ = ["child_exit"]

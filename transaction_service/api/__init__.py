"""HTTP entry points: one flask-smorest blueprint per resource."""

from __future__ import annotations

from servicekit.problems import Problem, problem_response

from ..domain.orders import IllegalTransition


def register_blueprints(app, api) -> None:
    from . import (
        admin,
        audit,
        checkout,
        creators,
        notifications,
        orders,
        refunds,
        returns,
        sellers,
        webhooks,
    )

    for module in (checkout, orders, notifications, sellers, creators, admin, refunds, audit,
                   webhooks, returns):
        api.register_blueprint(module.blp)

    @app.errorhandler(IllegalTransition)
    def _illegal_transition(error: IllegalTransition):
        return problem_response(
            Problem(409, "Illegal transition", str(error), slug="illegal-transition",
                    extra={"current_status": str(error.current),
                           "requested_status": str(error.target)})
        )

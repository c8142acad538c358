from servicekit.problems import Problem, flatten_validation_messages


def test_flatten_drops_location_and_joins_nested_paths():
    messages = {
        "json": {
            "email": ["Not a valid email address."],
            "items": {"0": {"quantity": ["Must be between 1 and 999."]}},
        }
    }
    assert flatten_validation_messages(messages) == {
        "email": ["Not a valid email address."],
        "items.0.quantity": ["Must be between 1 and 999."],
    }


def test_problem_slug_is_derived_from_title():
    problem = Problem(409, "Insufficient stock")
    assert problem.slug == "insufficient-stock"
    assert problem.detail == "Insufficient stock"

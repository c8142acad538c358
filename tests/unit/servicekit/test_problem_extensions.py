"""Problem extension members never replace the standard RFC 9457 members."""

from servicekit.problems import Problem


def test_an_extension_named_like_a_standard_member_does_not_replace_it():
    body = Problem(409, "Conflict", "Already released.",
                   extra={"status": "released", "current_status": "released"}).to_dict()
    assert body["status"] == 409
    assert body["current_status"] == "released"

"""The policy model on its own: choice among matching policies, the operator merge, and how
a definition meets a queue's arguments."""

from __future__ import annotations

import pytest

from leveret.broker.policies import (
    Policy,
    PolicyError,
    effective_definition,
    effective_options,
    make_policy,
    queue_policies,
)
from leveret.broker.queue_options import parse_queue_options


def policy(name: str, pattern: str = ".*", priority: int = 0, apply_to: str = "all",
           **definition: object) -> Policy:  # fmt: skip
    keys = {k.replace("_", "-"): v for k, v in definition.items()}
    return Policy("/", name, pattern, apply_to, priority, keys)


def test_the_highest_priority_wins_and_ties_go_to_the_first_name() -> None:
    found = [policy("b", priority=1, max_length=1), policy("a", priority=1, max_length=2),
             policy("z", priority=0, max_length=3)]  # fmt: skip
    assert queue_policies(found, [], "classic", "q")[0] == found[1]


def test_patterns_are_unanchored_and_apply_to_is_honoured() -> None:
    found = [policy("p", "rder", apply_to="quorum_queues", max_length=1)]
    assert queue_policies(found, [], "quorum", "orders")[0] == found[0]
    assert queue_policies(found, [], "classic", "orders")[0] is None
    assert queue_policies(found, [], "quorum", "other")[0] is None


def test_the_operator_policy_lowers_numeric_keys() -> None:
    user = policy("u", max_length=10, message_ttl=5, dead_letter_exchange="dlx")
    operator = policy("o", max_length=4, message_ttl=50, expires=1000)
    assert effective_definition(user, operator) == {
        "max-length": 4, "message-ttl": 5, "dead-letter-exchange": "dlx", "expires": 1000,
    }  # fmt: skip
    assert effective_definition(None, operator) == operator.definition


def test_lower_wins_for_limits_and_the_argument_for_the_rest() -> None:
    args: dict[str, object] = {"x-max-length": 7, "x-overflow": "reject-publish",
                               "x-dead-letter-exchange": "mine"}  # fmt: skip
    base = parse_queue_options("q", "/", args, durable=True, exclusive=False, auto_delete=False)
    definition = {"max-length": 3, "max-length-bytes": 100, "overflow": "drop-head",
                  "dead-letter-exchange": "theirs", "dead-letter-routing-key": "rk"}  # fmt: skip
    options = effective_options(base, args, definition)
    assert options.max_length == 3
    assert options.max_length_bytes == 100
    assert options.overflow == "reject-publish"
    assert options.dead_letter_exchange == "mine"
    assert options.dead_letter_routing_key is None  # the argument's DLX brings its own key
    assert effective_options(base, args, {"max-length": 9}).max_length == 7


def test_a_quorum_queue_keeps_its_default_delivery_limit_without_a_policy_one() -> None:
    args: dict[str, object] = {"x-queue-type": "quorum"}
    base = parse_queue_options("q", "/", args, durable=True, exclusive=False, auto_delete=False)
    assert effective_options(base, args, {"max-length": 1}).delivery_limit == base.delivery_limit
    assert effective_options(base, args, {"delivery-limit": 3}).delivery_limit == 3


@pytest.mark.parametrize(
    ("definition", "operator", "words"),
    [
        ({"max-length": True}, False, "true is not a valid maximum length"),
        ({"queue-version": 3}, False, "3 is not a valid queue-version value"),
        ({"message-ttl": 5}, True, None),
        ({"alternate-exchange": "x"}, True, "are not recognised policy settings"),
    ],
)
def test_validation(definition: dict[str, object], operator: bool, words: str | None) -> None:
    if words is None:
        assert make_policy("/", "p", ".*", definition, operator=operator).definition == definition
        return
    with pytest.raises(PolicyError) as refused:
        make_policy("/", "p", ".*", definition, operator=operator)
    assert words in str(refused.value)

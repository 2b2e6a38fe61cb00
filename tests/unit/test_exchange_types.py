"""Exchange-type routing: direct, fanout, topic and headers, against RabbitMQ's rules."""

from __future__ import annotations

import time
from collections.abc import Hashable, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leveret.amqp.errors import PRECONDITION_FAILED, ChannelError
from leveret.amqp.table import Int8, Int64, LongStrBytes, Timestamp
from leveret.broker.exchange_types import (
    EXCHANGE_TYPES,
    DirectExchange,
    ExchangeType,
    FanoutExchange,
    HeadersExchange,
    TopicExchange,
)

NO_ARGS: dict[str, object] = {}


def routed(
    x: ExchangeType, key: str = "", headers: Mapping[str, object] | None = None
) -> list[Any]:
    result = list(x.route(key, headers))
    assert len(result) == len(set(result)), "a destination was routed to twice"
    return result


class Q:
    """A destination like the broker's: hashable by identity."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Q({self.name})"


# --------------------------------------------------------------------------- registry


def test_registry_maps_names_to_classes() -> None:
    assert {
        "direct": DirectExchange,
        "fanout": FanoutExchange,
        "topic": TopicExchange,
        "headers": HeadersExchange,
    } == EXCHANGE_TYPES
    for name, cls in EXCHANGE_TYPES.items():
        assert cls.name == name
        assert issubclass(cls, ExchangeType)


def test_exchange_type_is_abstract() -> None:
    with pytest.raises(TypeError):
        ExchangeType()  # type: ignore[abstract]


@pytest.mark.parametrize("cls", list(EXCHANGE_TYPES.values()))
def test_bind_unbind_bookkeeping(cls: type[ExchangeType]) -> None:
    x = cls()
    q1, q2 = Q("q1"), Q("q2")
    assert x.binding_count() == 0
    assert not x.has_bindings_to(q1)
    assert x.bind(q1, "k", NO_ARGS) is True
    assert x.bind(q1, "k", {}) is False  # same binding
    assert x.bind(q1, "k", {"a": 1}) is True  # same key, other arguments: another binding
    assert x.bind(q1, "j", NO_ARGS) is True
    assert x.bind(q2, "k", NO_ARGS) is True
    assert x.binding_count() == 4
    assert x.has_bindings_to(q1) and x.has_bindings_to(q2)
    assert list(x.bindings()) == [
        (q1, "k", {}),
        (q1, "k", {"a": 1}),
        (q1, "j", {}),
        (q2, "k", {}),
    ]
    assert x.unbind(q1, "k", {"a": 2}) is False
    assert x.unbind(q1, "k", {"a": 1}) is True
    assert x.unbind(q1, "k", {"a": 1}) is False
    assert x.binding_count() == 3
    assert x.unbind_destination(q1) == 2
    assert x.unbind_destination(q1) == 0
    assert not x.has_bindings_to(q1)
    assert list(x.bindings()) == [(q2, "k", {})]
    assert x.unbind(q2, "k", NO_ARGS) is True
    assert x.binding_count() == 0
    assert not x.has_bindings_to(q2)
    assert routed(x, "k", {}) == []


@pytest.mark.parametrize("cls", list(EXCHANGE_TYPES.values()))
def test_binding_identity_with_unhashable_arguments(cls: type[ExchangeType]) -> None:
    x = cls()
    args: dict[str, object] = {"t": {"b": [1, 2, {"c": b"x"}], "a": 1.5}, "l": [1, [2]]}
    assert x.bind("q", "k", args)
    # Equal content, other key order and other container identities: same binding.
    same: dict[str, object] = {"l": [1, [2]], "t": {"a": 1.5, "b": [1, 2, {"c": b"x"}]}}
    assert not x.bind("q", "k", same)
    assert x.bind("q", "k", {"t": {"a": 1.5, "b": [1, 2, {"c": b"y"}]}, "l": [1, [2]]})
    assert x.unbind("q", "k", same)
    assert x.binding_count() == 1


@pytest.mark.parametrize("cls", list(EXCHANGE_TYPES.values()))
def test_arguments_of_different_kinds_are_different_bindings(cls: type[ExchangeType]) -> None:
    x = cls()
    assert x.bind("q", "k", {"a": 1})
    assert x.bind("q", "k", {"a": True})  # True == 1 in Python, not in AMQP
    assert x.bind("q", "k", {"a": 1.0})
    assert not x.bind("q", "k", {"a": 1})
    assert x.binding_count() == 3


@pytest.mark.parametrize("cls", list(EXCHANGE_TYPES.values()))
def test_stored_arguments_are_a_copy(cls: type[ExchangeType]) -> None:
    x = cls()
    args: dict[str, object] = {"a": 1}
    x.bind("q", "k", args)
    args["b"] = 2
    assert list(x.bindings()) == [("q", "k", {"a": 1})]
    assert x.unbind("q", "k", {"a": 1})


@pytest.mark.parametrize("cls", [DirectExchange, FanoutExchange, TopicExchange])
def test_validate_binding_accepts_anything_for_key_based_types(cls: type[ExchangeType]) -> None:
    cls.validate_binding("a.#.*", {"x-match": "nonsense", "x": [1]})


# --------------------------------------------------------------------------- direct


def test_direct_routes_on_exact_key() -> None:
    x = DirectExchange()
    x.bind("q1", "a", NO_ARGS)
    x.bind("q2", "a", NO_ARGS)
    x.bind("q3", "b", NO_ARGS)
    x.bind("q4", "", NO_ARGS)
    assert routed(x, "a") == ["q1", "q2"]
    assert routed(x, "b") == ["q3"]
    assert routed(x, "") == ["q4"]
    assert routed(x, "A") == []
    assert routed(x, "a.b") == []
    assert routed(x, "#") == []


def test_direct_key_is_not_a_pattern() -> None:
    x = DirectExchange()
    x.bind("q", "#", NO_ARGS)
    x.bind("r", "*", NO_ARGS)
    assert routed(x, "a") == []
    assert routed(x, "#") == ["q"]
    assert routed(x, "*") == ["r"]


def test_direct_destination_bound_twice_is_routed_once_until_last_unbind() -> None:
    x = DirectExchange()
    x.bind("q", "a", NO_ARGS)
    x.bind("q", "a", {"x": 1})
    assert routed(x, "a") == ["q"]
    x.unbind("q", "a", NO_ARGS)
    assert routed(x, "a") == ["q"]
    x.unbind("q", "a", {"x": 1})
    assert routed(x, "a") == []


def test_direct_ignores_headers() -> None:
    x = DirectExchange()
    x.bind("q", "a", {"h": 1})
    assert routed(x, "a", {"h": 2}) == ["q"]
    assert routed(x, "a", None) == ["q"]


# --------------------------------------------------------------------------- fanout


def test_fanout_routes_everything_to_everyone_once() -> None:
    x = FanoutExchange()
    assert routed(x, "k") == []
    x.bind("q1", "a", NO_ARGS)
    x.bind("q2", "", NO_ARGS)
    x.bind("q1", "b", NO_ARGS)
    for key in ("", "a", "zzz", "a.b.#"):
        assert routed(x, key) == ["q1", "q2"]
    x.unbind("q1", "a", NO_ARGS)
    assert routed(x, "a") == ["q1", "q2"]
    x.unbind("q1", "b", NO_ARGS)
    assert routed(x, "a") == ["q2"]


# --------------------------------------------------------------------------- topic


def topic_matches(binding_key: str, routing_key: str) -> bool:
    x = TopicExchange()
    x.bind("q", binding_key, NO_ARGS)
    return routed(x, routing_key) == ["q"]


@pytest.mark.parametrize(
    ("binding_key", "matching", "not_matching"),
    [
        ("#", ["", "a", "a.b", "a.b.c", ".", "..", "*", "#"], []),
        ("a.#", ["a", "a.b", "a.b.c", "a."], ["", "b", "b.a", "ab"]),
        ("#.a", ["a", "x.a", "x.y.a", ".a"], ["", "a.x", "xa"]),
        ("a.#.b", ["a.b", "a.x.b", "a.x.y.b", "a..b"], ["a", "b", "a.b.c", "x.a.b"]),
        ("*.b", ["a.b", ".b", "b.b"], ["b", "a.c.b", "a.b.c"]),
        ("a.*.#", ["a.b", "a.b.c", "a."], ["a", "b.a"]),
        ("*", ["a", "*", "#"], ["", "a.b", "."]),
        ("*.*", ["a.b", ".", "a."], ["a", "", "a.b.c"]),
        ("", [""], ["a", ".", "*"]),
        (".", ["."], ["", "a", "a.", "..", ".a"]),
        ("a..b", ["a..b"], ["a.b", "a...b"]),
        ("a.*.b", ["a..b", "a.x.b"], ["a.b", "a.x.y.b"]),
        ("#.#", ["", "a", "a.b.c"], []),
        ("#.*", ["a", "a.b", "."], [""]),
        ("*.#", ["a", "a.b", "."], [""]),
        ("#.*.#", ["a", "a.b.c"], [""]),
        ("a.#.#.b", ["a.b", "a.x.b", "a.x.y.b"], ["a", "b"]),
        ("#.a.#", ["a", "x.a", "a.x", "x.a.y", "a.a"], ["", "x", "x.y"]),
        ("a.b.c", ["a.b.c"], ["a.b", "a.b.c.d", "a.b.cc"]),
        ("a*.b", ["a*.b"], ["ax.b", "a.b"]),  # wildcards are whole words only
        ("a#", ["a#"], ["a", "ab", "a.b"]),
    ],
)
def test_topic_examples(binding_key: str, matching: list[str], not_matching: list[str]) -> None:
    for key in matching:
        assert topic_matches(binding_key, key), (binding_key, key)
    for key in not_matching:
        assert not topic_matches(binding_key, key), (binding_key, key)


def test_topic_routes_each_destination_once_in_binding_order() -> None:
    x = TopicExchange()
    x.bind("q1", "a.*", NO_ARGS)
    x.bind("q2", "#", NO_ARGS)
    x.bind("q1", "#.b", NO_ARGS)
    x.bind("q3", "a.b", NO_ARGS)
    x.bind("q4", "a.c", NO_ARGS)
    assert sorted(routed(x, "a.b")) == ["q1", "q2", "q3"]
    assert routed(x, "a.b") == routed(x, "a.b")
    assert sorted(routed(x, "x.y")) == ["q2"]
    assert sorted(routed(x, "a.c")) == ["q1", "q2", "q4"]


def test_topic_unbind_prunes_and_keeps_other_bindings() -> None:
    x = TopicExchange()
    x.bind("q1", "a.b.c", NO_ARGS)
    x.bind("q2", "a.b", NO_ARGS)
    x.bind("q3", "a.#", NO_ARGS)
    assert sorted(routed(x, "a.b")) == ["q2", "q3"]
    assert x.unbind("q1", "a.b.c", NO_ARGS)
    assert sorted(routed(x, "a.b")) == ["q2", "q3"]
    assert routed(x, "a.b.c") == ["q3"]
    assert x.unbind("q3", "a.#", NO_ARGS)
    assert routed(x, "a.b") == ["q2"]
    assert routed(x, "a.b.c") == []
    assert x.unbind("q2", "a.b", NO_ARGS)
    assert routed(x, "a.b") == []
    # The trie is empty again.
    root = x._root
    assert not (root.children or root.star or root.hash or root.dests)


def test_topic_cache_is_invalidated_by_bind_and_unbind() -> None:
    x = TopicExchange()
    assert routed(x, "a.b") == []
    x.bind("q", "a.*", NO_ARGS)
    assert routed(x, "a.b") == ["q"]
    x.bind("r", "#", NO_ARGS)
    assert routed(x, "a.b") == ["q", "r"]
    x.unbind_destination("q")
    assert routed(x, "a.b") == ["r"]


def test_topic_cache_is_bounded() -> None:
    x = TopicExchange()
    x.bind("q", "#", NO_ARGS)
    for i in range(10_000):
        assert routed(x, f"k{i}") == ["q"]
    assert len(x._cache) <= 4096


def test_topic_many_hashes_do_not_blow_up() -> None:
    x = TopicExchange()
    x.bind("q", ".".join(["#"] * 30 + ["a"]), NO_ARGS)
    x.bind("r", ".".join(["#", "b"] * 15 + ["#", "c"]), NO_ARGS)
    key = ".".join(["b"] * 200)
    start = time.perf_counter()
    assert routed(x, key) == []
    assert routed(x, key + ".a") == ["q"]
    assert routed(x, key + ".c") == ["r"]
    assert time.perf_counter() - start < 2.0


# --------------------------------------------------------------------------- headers


def headers_routed(arguments: Mapping[str, object], headers: Mapping[str, object] | None) -> bool:
    x = HeadersExchange()
    x.bind("q", "", arguments)
    return routed(x, "ignored", headers) == ["q"]


def test_headers_all_is_the_default() -> None:
    args = {"a": 1, "b": "x"}
    assert headers_routed(args, {"a": 1, "b": "x"})
    assert headers_routed(args, {"a": 1, "b": "x", "c": 3})
    assert not headers_routed(args, {"a": 1})
    assert not headers_routed(args, {"a": 1, "b": "y"})
    assert not headers_routed(args, None)


def test_headers_all_explicit() -> None:
    args = {"x-match": "all", "a": 1, "b": "x"}
    assert headers_routed(args, {"a": 1, "b": "x"})
    assert not headers_routed(args, {"b": "x"})


def test_headers_any() -> None:
    args = {"x-match": "any", "a": 1, "b": "x"}
    assert headers_routed(args, {"a": 1})
    assert headers_routed(args, {"b": "x", "a": 2})
    assert not headers_routed(args, {"a": 2, "b": "y"})
    assert not headers_routed(args, {})
    assert not headers_routed(args, None)


def test_headers_with_nothing_to_match() -> None:
    assert headers_routed({}, None)
    assert headers_routed({}, {"a": 1})
    assert headers_routed({"x-match": "all"}, {})
    assert headers_routed({"x-match": "all", "x-foo": 1}, {})
    assert not headers_routed({"x-match": "any"}, {"a": 1})
    assert not headers_routed({"x-match": "any", "x-foo": 1}, {"x-foo": 1})
    # x-match itself is never matched against headers.
    assert headers_routed({"x-match": "all-with-x"}, {})
    assert not headers_routed({"x-match": "any-with-x"}, {"x-match": "any-with-x"})


def test_headers_x_keys_ignored_under_all_and_any() -> None:
    assert headers_routed({"x-match": "all", "a": 1, "x-b": 2}, {"a": 1})
    assert not headers_routed({"x-match": "any", "x-b": 2}, {"x-b": 2})
    assert headers_routed({"x-match": "any", "a": 1, "x-b": 2}, {"a": 1, "x-b": 3})


def test_headers_x_keys_included_with_x() -> None:
    assert not headers_routed({"x-match": "all-with-x", "a": 1, "x-b": 2}, {"a": 1})
    assert headers_routed({"x-match": "all-with-x", "a": 1, "x-b": 2}, {"a": 1, "x-b": 2})
    assert headers_routed({"x-match": "any-with-x", "x-b": 2}, {"x-b": 2})
    assert headers_routed(
        {"x-match": "any-with-x", "x-first-death-reason": "expired"},
        {"x-first-death-reason": "expired", "x-first-death-queue": "q"},
    )
    assert not headers_routed({"x-match": "any-with-x", "x-b": 2}, {"x-b": 3})


def test_headers_void_binding_value_matches_presence() -> None:
    assert headers_routed({"a": None}, {"a": 1})
    assert headers_routed({"a": None}, {"a": None})
    assert headers_routed({"a": None}, {"a": "anything"})
    assert not headers_routed({"a": None}, {"b": 1})
    assert headers_routed({"x-match": "any", "a": None, "b": 1}, {"a": "v"})
    # A void header does not equal a non-void binding value.
    assert not headers_routed({"a": 1}, {"a": None})


def test_headers_values_compare_by_value_and_kind() -> None:
    class ShortInt(int):
        pass

    class LongStr(str):
        __slots__ = ()

    assert headers_routed({"a": 5}, {"a": ShortInt(5)})
    assert headers_routed({"a": ShortInt(5)}, {"a": 5})
    assert headers_routed({"a": "s"}, {"a": LongStr("s")})
    assert headers_routed({"a": b"bytes"}, {"a": b"bytes"})
    assert headers_routed({"a": b"bytes"}, {"a": bytearray(b"bytes")})
    assert not headers_routed({"a": b"s"}, {"a": "s"})
    assert headers_routed({"a": True}, {"a": True})
    assert not headers_routed({"a": True}, {"a": 1})
    assert not headers_routed({"a": 1}, {"a": True})
    assert not headers_routed({"a": 1}, {"a": 1.0})
    assert headers_routed({"a": 1.5}, {"a": 1.5})
    assert headers_routed({"a": {"n": [1, "x"]}}, {"a": {"n": [1, "x"]}})
    assert not headers_routed({"a": {"n": [1, "x"]}}, {"a": {"n": [1, "y"]}})
    assert not headers_routed({"a": [1]}, {"a": [True]})
    # Decoded wire values: every integer width is one kind, a timestamp is another.
    assert headers_routed({"a": 7}, {"a": Int8(7)})
    assert headers_routed({"a": Int64(7)}, {"a": Int8(7)})
    assert not headers_routed({"a": 7}, {"a": Timestamp(7)})
    assert headers_routed({"a": Timestamp(7)}, {"a": Timestamp(7)})
    assert headers_routed({"a": b"\xff"}, {"a": LongStrBytes(b"\xff")})


def test_headers_ignore_routing_key_and_dedupe() -> None:
    x = HeadersExchange()
    x.bind("q1", "k1", {"x-match": "any", "a": 1})
    x.bind("q2", "", {"b": 2})
    x.bind("q1", "k2", {"b": 2})
    assert routed(x, "whatever", {"a": 1, "b": 2}) == ["q1", "q2"]
    assert routed(x, "", {"b": 2}) == ["q2", "q1"]
    assert routed(x, "", {"a": 1}) == ["q1"]
    assert routed(x, "", None) == []


@pytest.mark.parametrize("mode", ["all", "any", "all-with-x", "any-with-x"])
def test_headers_validate_accepts_known_modes(mode: str) -> None:
    HeadersExchange.validate_binding("", {"x-match": mode})
    HeadersExchange.validate_binding("", {"x-match": mode.encode()})
    x = HeadersExchange()
    assert x.bind("q", "", {"x-match": mode})


def test_headers_validate_rejects_unknown_mode() -> None:
    with pytest.raises(ChannelError) as info:
        HeadersExchange.validate_binding("", {"x-match": "foo"})
    assert info.value.reply_code == PRECONDITION_FAILED
    assert info.value.reply_text == (
        'PRECONDITION_FAILED - Invalid x-match field value <<"foo">>; '
        "expected all, any, all-with-x, or any-with-x"
    )
    for bad in ("ALL", "", "all "):
        with pytest.raises(ChannelError):
            HeadersExchange.validate_binding("", {"x-match": bad})


def test_headers_validate_rejects_non_string_mode() -> None:
    with pytest.raises(ChannelError) as info:
        HeadersExchange.validate_binding("", {"x-match": 1})
    assert info.value.reply_code == PRECONDITION_FAILED
    assert "x-match" in info.value.detail


def test_headers_invalid_bind_changes_nothing() -> None:
    x = HeadersExchange()
    with pytest.raises(ChannelError):
        x.bind("q", "", {"x-match": "foo", "a": 1})
    assert x.binding_count() == 0
    assert not x.has_bindings_to("q")
    assert routed(x, "", {"a": 1}) == []


# --------------------------------------------------------------------------- properties


def ref_words(key: str) -> list[str]:
    return [] if key == "" else key.split(".")


def ref_topic_match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return ref_topic_match(rest, words) or (bool(words) and ref_topic_match(pattern, words[1:]))
    if not words:
        return False
    return (head == "*" or head == words[0]) and ref_topic_match(rest, words[1:])


key_words = st.sampled_from(["a", "b", ""])
pattern_words = st.sampled_from(["a", "b", "", "*", "#"])
routing_keys = st.lists(key_words, max_size=6).map(".".join)
binding_keys = st.lists(pattern_words, max_size=6).map(".".join)


@given(binding_keys, routing_keys)
@settings(max_examples=500)
def test_topic_matches_reference_single(binding_key: str, routing_key: str) -> None:
    expected = ref_topic_match(ref_words(binding_key), ref_words(routing_key))
    assert topic_matches(binding_key, routing_key) == expected


@given(st.lists(binding_keys, max_size=12), st.lists(routing_keys, min_size=1, max_size=8))
@settings(max_examples=200)
def test_topic_matches_reference_many(patterns: list[str], keys: list[str]) -> None:
    x = TopicExchange()
    for i, pattern in enumerate(patterns):
        x.bind(i, pattern, NO_ARGS)
    for key in keys:
        expected = [
            i for i, p in enumerate(patterns) if ref_topic_match(ref_words(p), ref_words(key))
        ]
        assert sorted(routed(x, key)) == expected


# A naive model: a plain list of bindings; every binding checked on every route.

HEADER_NAMES = ["h1", "h2", "x-h"]
HEADER_VALUES: list[object] = [1, 2, "v", True, None]


def same_value(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b


def same_args(a: Mapping[str, object], b: Mapping[str, object]) -> bool:
    return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)


def ref_headers_match(args: Mapping[str, object], headers: Mapping[str, object]) -> bool:
    mode = args.get("x-match", "all")
    assert isinstance(mode, str)
    with_x = mode.endswith("-with-x")
    results = [
        name in headers and (value is None or same_value(value, headers[name]))
        for name, value in args.items()
        if name != "x-match" and (with_x or not name.startswith("x-"))
    ]
    return all(results) if mode.startswith("all") else any(results)


def ref_match(
    type_name: str, binding_key: str, args: Mapping[str, object], key: str, headers: Any
) -> bool:
    if type_name == "direct":
        return binding_key == key
    if type_name == "fanout":
        return True
    if type_name == "topic":
        return ref_topic_match(ref_words(binding_key), ref_words(key))
    return ref_headers_match(args, headers or {})


header_args = st.dictionaries(
    st.sampled_from(HEADER_NAMES), st.sampled_from(HEADER_VALUES), max_size=3
).flatmap(
    lambda d: st.sampled_from([None, "all", "any", "all-with-x", "any-with-x"]).map(
        lambda m: d if m is None else {**d, "x-match": m}
    )
)
message_headers = st.none() | st.dictionaries(
    st.sampled_from(HEADER_NAMES), st.sampled_from([*HEADER_VALUES, 1.0]), max_size=3
)
destinations = st.sampled_from(["q1", "q2", "q3"])
operations = st.lists(
    st.one_of(
        st.tuples(st.just("bind"), destinations, binding_keys, header_args),
        st.tuples(st.just("unbind"), destinations, binding_keys, header_args),
        st.tuples(st.just("unbind_destination"), destinations, st.just(""), st.just({})),
    ),
    max_size=25,
)


@pytest.mark.parametrize("type_name", sorted(EXCHANGE_TYPES))
@given(ops=operations, probes=st.lists(st.tuples(routing_keys, message_headers), max_size=6))
@settings(max_examples=150)
def test_bind_unbind_sequences_match_naive_model(
    type_name: str,
    ops: list[tuple[str, str, str, dict[str, object]]],
    probes: list[tuple[str, dict[str, object] | None]],
) -> None:
    x = EXCHANGE_TYPES[type_name]()
    model: list[tuple[Hashable, str, dict[str, object]]] = []

    def find(dest: str, key: str, args: Mapping[str, object]) -> int | None:
        for i, (d, k, a) in enumerate(model):
            if d == dest and k == key and same_args(a, args):
                return i
        return None

    for op, dest, key, args in ops:
        index = find(dest, key, args)
        if op == "bind":
            assert x.bind(dest, key, args) is (index is None)
            if index is None:
                model.append((dest, key, dict(args)))
        elif op == "unbind":
            assert x.unbind(dest, key, args) is (index is not None)
            if index is not None:
                del model[index]
        else:
            gone = [b for b in model if b[0] == dest]
            assert x.unbind_destination(dest) == len(gone)
            model = [b for b in model if b[0] != dest]

        assert x.binding_count() == len(model)
        assert list(x.bindings()) == model
        for d in ("q1", "q2", "q3"):
            assert x.has_bindings_to(d) == any(b[0] == d for b in model)
        for rkey, headers in [*probes, ("a", {"h1": 1})]:
            expected = {d for d, k, a in model if ref_match(type_name, k, a, rkey, headers)}
            got = routed(x, rkey, headers)
            assert set(got) == expected
            assert routed(x, rkey, headers) == got  # deterministic

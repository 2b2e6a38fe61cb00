"""The topic exchange: dot-separated binding keys with ``*`` and ``#`` wildcards.

Keys are split on ``.`` into words; empty words are words (``a..b`` has three), except
that the empty key has no words at all (as in RabbitMQ, so binding ``*`` does not match
routing key ``""`` while ``#`` and ``""`` do).  ``*`` matches exactly one word and ``#``
zero or more.

Binding keys live in a trie over words.  Matching simulates it as an NFA, one routing
key word at a time, keeping the set of live trie nodes: a node is visited at most once
per word, so the cost is O(words x nodes) however many ``#`` there are.  Results are
cached per routing key until the bindings change.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import ClassVar

from leveret.broker.exchange_types.base import BindingKey, DestinationSet, ExchangeType

__all__ = ["TopicExchange", "split_key"]

_CACHE_SIZE = 4096


def split_key(key: str) -> list[str]:
    """The words of a topic key: ``""`` has none, ``"."`` has two empty ones."""
    return key.split(".") if key else []


class _Node:
    __slots__ = ("children", "dests", "hash", "is_hash", "parent", "star", "word")

    def __init__(self, parent: _Node | None, word: str) -> None:
        self.parent = parent
        self.word = word  # the edge from parent: a literal word, "*" or "#"
        self.is_hash = word == "#" and parent is not None
        self.children: dict[str, _Node] = {}  # literal words only
        self.star: _Node | None = None
        self.hash: _Node | None = None
        self.dests: DestinationSet | None = None

    def child(self, word: str) -> _Node | None:
        if word == "*":
            return self.star
        if word == "#":
            return self.hash
        return self.children.get(word)

    def add_child(self, word: str) -> _Node:
        node = _Node(self, word)
        if word == "*":
            self.star = node
        elif word == "#":
            self.hash = node
        else:
            self.children[word] = node
        return node

    def remove_child(self, word: str) -> None:
        if word == "*":
            self.star = None
        elif word == "#":
            self.hash = None
        else:
            del self.children[word]

    def is_empty(self) -> bool:
        return not (self.children or self.star or self.hash or self.dests)


class TopicExchange(ExchangeType):
    name: ClassVar[str] = "topic"

    def __init__(self) -> None:
        super().__init__()
        self._root = _Node(None, "")
        self._cache: dict[str, tuple[Hashable, ...]] = {}

    def route(
        self, routing_key: str, headers: Mapping[str, object] | None = None
    ) -> tuple[Hashable, ...]:
        cached = self._cache.get(routing_key)
        if cached is not None:
            return cached
        result = self._match(routing_key)
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[routing_key] = result
        return result

    def _match(self, routing_key: str) -> tuple[Hashable, ...]:
        # `live` is an ordered set of trie nodes that have consumed the words so far,
        # closed under "#" matching zero words (following .hash edges).
        live: dict[_Node, None] = {}
        node: _Node | None = self._root
        while node is not None and node not in live:
            live[node] = None
            node = node.hash
        for word in split_key(routing_key):
            nxt: dict[_Node, None] = {}
            for current in live:
                for node in (current.children.get(word), current.star):
                    while node is not None and node not in nxt:
                        nxt[node] = None
                        node = node.hash
                if current.is_hash and current not in nxt:
                    # "#" swallows this word and stays; its own .hash closure is
                    # already in `nxt` or will be added by whoever reaches it.
                    node = current
                    while node is not None and node not in nxt:
                        nxt[node] = None
                        node = node.hash
            if not nxt:
                return ()
            live = nxt
        found: list[DestinationSet] = [n.dests for n in live if n.dests]
        if not found:
            return ()
        if len(found) == 1:
            return found[0].members
        out: dict[Hashable, None] = {}
        for dests in found:
            for d in dests.members:
                out[d] = None
        return tuple(out)

    def _added(
        self,
        key: BindingKey,
        destination: Hashable,
        routing_key: str,
        arguments: Mapping[str, object],
    ) -> None:
        node = self._root
        for word in split_key(routing_key):
            child = node.child(word)
            node = child if child is not None else node.add_child(word)
        if node.dests is None:
            node.dests = DestinationSet()
        node.dests.add(destination)
        self._cache.clear()

    def _removed(
        self,
        key: BindingKey,
        destination: Hashable,
        routing_key: str,
        arguments: Mapping[str, object],
    ) -> None:
        node = self._root
        for word in split_key(routing_key):
            child = node.child(word)
            assert child is not None
            node = child
        assert node.dests is not None
        node.dests.discard(destination)
        if not node.dests:
            node.dests = None
        # Prune branches that lead nowhere any more.
        while node.parent is not None and node.is_empty():
            node.parent.remove_child(node.word)
            node = node.parent
        self._cache.clear()

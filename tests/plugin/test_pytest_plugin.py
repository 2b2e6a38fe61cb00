"""The pytest plugin, run in a nested pytest session with ``pytester``."""

from __future__ import annotations

import pytest

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
filterwarnings =
    error
    ignore::DeprecationWarning:pika.*
"""

USER_TESTS = """
import aio_pika
import pika
import pytest

SEEN_VHOSTS = []


def connect(url):
    return pika.BlockingConnection(pika.URLParameters(url))


def test_publish_and_consume(amqp_url, amqp_broker, amqp_vhost):
    assert amqp_url == amqp_broker.url_for(amqp_vhost)
    conn = connect(amqp_url)
    ch = conn.channel()
    ch.queue_declare("greetings")
    ch.basic_publish("", "greetings", b"hello")
    assert amqp_broker.message_count("greetings", amqp_vhost) == 1
    method, props, body = ch.basic_get("greetings", auto_ack=True)
    assert body == b"hello"
    conn.close()


def test_first_of_two_on_the_same_queue(amqp_url, amqp_broker, amqp_vhost):
    conn = connect(amqp_url)
    ch = conn.channel()
    ch.queue_declare("shared")
    ch.basic_publish("", "shared", b"from the first test")
    conn.close()  # the message stays in the queue
    assert [m.body for m in amqp_broker.peek("shared", amqp_vhost)] == [b"from the first test"]
    SEEN_VHOSTS.append(amqp_vhost)


def test_second_of_two_on_the_same_queue(amqp_url, amqp_broker, amqp_vhost):
    conn = connect(amqp_url)
    ch = conn.channel()
    ok = ch.queue_declare("shared")
    assert ok.method.message_count == 0  # nothing left by the first test
    ch.basic_publish("", "shared", b"from the second test")
    method, props, body = ch.basic_get("shared", auto_ack=True)
    assert body == b"from the second test"
    method, props, body = ch.basic_get("shared", auto_ack=True)
    assert method is None
    conn.close()
    SEEN_VHOSTS.append(amqp_vhost)


def test_vhosts_are_fresh_and_removed(amqp_broker, amqp_vhost):
    first, second = SEEN_VHOSTS
    assert len({first, second, amqp_vhost}) == 3
    assert first not in amqp_broker.vhosts()
    assert second not in amqp_broker.vhosts()
    assert amqp_broker.connections(second) == []
    assert amqp_broker.queues(amqp_vhost) == []


async def test_async(async_amqp_broker, amqp_url, amqp_vhost):
    async with await aio_pika.connect(amqp_url) as conn:
        ch = await conn.channel()
        await ch.declare_queue("async-q")
        await ch.default_exchange.publish(aio_pika.Message(b"hi"), routing_key="async-q")
        assert [m.body for m in await async_amqp_broker.peek("async-q", amqp_vhost)] == [b"hi"]


def test_one_broker_per_session(amqp_broker, request):
    assert request.getfixturevalue("amqp_broker") is amqp_broker
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    return pytester


def test_fixtures_are_registered_by_the_entry_point(project: pytest.Pytester) -> None:
    result = project.runpytest("--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "amqp_broker_options [[]session scope[]]*",
            "amqp_broker [[]session scope[]]*",
            "*amqp_vhost*",
            "*amqp_url*",
            "*async_amqp_broker*",
        ]
    )
    assert result.ret == 0


def test_a_module_using_the_fixtures_passes(project: pytest.Pytester) -> None:
    project.makepyfile(test_user=USER_TESTS)
    result = project.runpytest("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        [
            "*test_first_of_two_on_the_same_queue PASSED*",
            "*test_second_of_two_on_the_same_queue PASSED*",
        ]
    )


def test_two_tests_on_the_same_queue_are_isolated(project: pytest.Pytester) -> None:
    """Each test fills "shared" with its own message and must find only that one."""
    project.makepyfile(
        test_isolation="""
        import pika
        import pytest

        @pytest.mark.parametrize("who", ["alpha", "beta", "gamma"])
        def test_publish_to_shared(amqp_url, amqp_broker, amqp_vhost, who):
            conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
            ch = conn.channel()
            ch.queue_declare("shared", durable=True)
            ch.basic_publish("", "shared", who.encode())
            assert [m.body for m in amqp_broker.peek("shared", amqp_vhost)] == [who.encode()]
            assert [q.messages for q in amqp_broker.queues(amqp_vhost)] == [1]
            conn.close()
        """
    )
    result = project.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_plugin_coexists_with_a_projects_own_broker_fixtures(project: pytest.Pytester) -> None:
    project.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def broker_url():
            return "amqp://elsewhere/"
        """
    )
    project.makepyfile(
        test_names="""
        def test_both(broker_url, amqp_url):
            assert broker_url == "amqp://elsewhere/"
            assert amqp_url.startswith("amqp://guest:guest@127.0.0.1:")
        """
    )
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_overriding_amqp_broker_with_a_data_dir(project: pytest.Pytester) -> None:
    project.makeconftest(
        """
        import pytest
        from leveret import Broker

        @pytest.fixture(scope="session")
        def amqp_broker(tmp_path_factory):
            with Broker(data_dir=tmp_path_factory.mktemp("amqp")) as broker:
                yield broker
        """
    )
    project.makepyfile(
        test_data_dir="""
        def test_data_dir(amqp_broker, amqp_url):
            assert amqp_broker.node.config.data_dir is not None
            assert amqp_url.startswith(amqp_broker.url_for("/")[: -len("%2F")])
        """
    )
    project.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_the_plugin_can_be_disabled(project: pytest.Pytester) -> None:
    project.makepyfile(test_off="def test_off(amqp_url):\n    pass\n")
    result = project.runpytest("-p", "no:cacheprovider", "-p", "no:leveret")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'amqp_url' not found*"])

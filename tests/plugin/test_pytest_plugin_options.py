"""The plugin's options (``--leveret-compat``, ``--leveret-max-message-size`` and their ini
twins) and the ``amqp_broker_options`` fixture, in nested pytest sessions (``pytester``).

The nested tests check the profile the way a client notices it: an unknown exchange type is
a 503 connection error under rabbitmq-3 and a 406 channel error under rabbitmq-4
(docs/compatibility.md).
"""

from __future__ import annotations

import pytest

INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
filterwarnings =
    error
    ignore::DeprecationWarning:pika.*
"""

PROFILE_TEST = """
import pika
import pika.exceptions
import pytest

EXPECTED = {expected!r}


def test_profile_as_a_client_sees_it(amqp_broker, amqp_url):
    assert amqp_broker.node.config.compat.name == EXPECTED
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    ch = conn.channel()
    if EXPECTED == "rabbitmq-3":
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
            ch.exchange_declare("x", exchange_type="no-such-type")
        assert info.value.reply_code == 503
    else:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            ch.exchange_declare("x", exchange_type="no-such-type")
        assert info.value.reply_code == 406
        conn.close()
"""


def run(pytester: pytest.Pytester, ini_lines: str, *args: str) -> pytest.RunResult:
    pytester.makeini(INI + ini_lines)
    return pytester.runpytest("-p", "no:cacheprovider", *args)


@pytest.mark.parametrize(
    ("ini_lines", "args", "expected"),
    [
        ("", (), "rabbitmq-4"),
        ("leveret_compat = rabbitmq-3\n", (), "rabbitmq-3"),
        ("", ("--leveret-compat", "rabbitmq-3"), "rabbitmq-3"),
        ("leveret_compat = rabbitmq-3\n", ("--leveret-compat=rabbitmq-4",), "rabbitmq-4"),
    ],
    ids=["default", "ini", "command-line", "command-line-over-ini"],
)
def test_choosing_the_compatibility_profile(
    pytester: pytest.Pytester, ini_lines: str, args: tuple[str, ...], expected: str
) -> None:
    pytester.makepyfile(test_profile=PROFILE_TEST.format(expected=expected))
    run(pytester, ini_lines, *args).assert_outcomes(passed=1)


def test_max_message_size_from_the_ini_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_size="""
        import pika
        import pika.exceptions
        import pytest

        def test_larger_bodies_are_refused(amqp_url):
            conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
            ch = conn.channel()
            ch.confirm_delivery()
            ch.queue_declare("q")
            ch.basic_publish("", "q", b"x" * 1000)  # exactly the limit
            with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
                ch.basic_publish("", "q", b"x" * 1001)
            assert info.value.reply_code == 406
            assert "1001" in info.value.reply_text
            conn.close()
        """
    )
    run(pytester, "leveret_max_message_size = 1000\n").assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("option", "value", "complaint"),
    [
        ("--leveret-compat", "rabbitmq-5", "*unknown compatibility profile 'rabbitmq-5'*"),
        ("--leveret-max-message-size", "lots", "*must be a number of bytes, got 'lots'*"),
        ("--leveret-max-message-size", str(512 * 2**20 + 1), "*between 1 and 536870912*"),
        ("--leveret-max-message-size", "0", "*must be positive*"),
    ],
)
def test_a_bad_value_stops_the_run_before_any_test(
    pytester: pytest.Pytester, option: str, value: str, complaint: str
) -> None:
    pytester.makepyfile(test_never="def test_never(amqp_url):\n    raise AssertionError\n")
    result = run(pytester, "", option, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: leveret:{complaint}"])


def test_overriding_amqp_broker_options_keeps_the_chosen_profile(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def amqp_broker_options(amqp_broker_options, tmp_path_factory):
            return {**amqp_broker_options, "data_dir": tmp_path_factory.mktemp("amqp")}
        """
    )
    pytester.makepyfile(
        test_profile=PROFILE_TEST.format(expected="rabbitmq-3")
        + """

def test_data_dir(amqp_broker):
    assert amqp_broker.node.config.data_dir is not None
"""
    )
    run(pytester, "leveret_compat = rabbitmq-3\n").assert_outcomes(passed=2)


def test_the_options_are_in_pytest_help(pytester: pytest.Pytester) -> None:
    result = run(pytester, "", "--help")
    result.stdout.fnmatch_lines(
        [
            "*--leveret-compat=PROFILE*",
            "*--leveret-max-message-size=BYTES*",
            "*leveret_compat (string)*",
            "*leveret_max_message_size (string)*",
        ],
        consecutive=False,
    )

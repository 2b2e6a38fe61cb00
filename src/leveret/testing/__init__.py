"""Testing support for projects that talk to RabbitMQ.

``leveret.testing.plugin`` is a pytest plugin, registered through the ``pytest11`` entry
point, so installing Leveret makes the ``amqp_*`` fixtures available in every pytest run
(see ``docs/testing.md``). The broker itself is :class:`leveret.Broker`
(``leveret.embedded``). Nothing is imported here, so loading the plugin stays cheap.
"""

"""A persistent connection the server ended while it sat idle (a restart, an administrator, an
idle timeout) is replaced before the next request's first query, not failed on
(backend/postgresql/base.py): on the primary that query would be a 500, on a replica the
replica would count as down."""

import time

import psycopg
import pytest
from django.db import connection

pytestmark = [pytest.mark.ops, pytest.mark.django_db(transaction=True)]


def test_a_connection_the_server_ended_is_replaced_before_the_next_query():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        ended = cursor.fetchone()[0]
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [ended])
    time.sleep(0.5)  # the server's farewell and its end-of-file are both waiting to be read

    connection.close_if_unusable_or_obsolete()  # as each request starts
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        serving = cursor.fetchone()[0]

    assert serving != ended

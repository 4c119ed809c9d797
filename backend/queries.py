"""What identifies the rows a query finds: its WHERE as Django compiled it, from parameters the
filter set validated. Unknown parameters, their order in the URL and spelled-out defaults make
no difference; the caller's visibility rule does (it is part of the WHERE)."""

import hashlib

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db.models.sql import Query


def where_digest(query: Query) -> str:
    compiler = query.get_compiler(using=query.model.objects.db)
    try:
        sql, params = compiler.compile(query.where)
    except FullResultSet:
        sql, params = "", ()
    except EmptyResultSet:
        sql, params = "NOTHING", ()
    text = f"{query.model._meta.label}|{query.distinct}|{sql}|{params!r}"
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()

"""A viewset's OpenAPI inspector, imported only when a schema is generated.

DRF's router reads every class attribute of a viewset when it builds the URLs; through DRF's
own `schema` descriptor that imports the whole schema generator (drf-spectacular, and with it
Django's test tooling: some 5 MB a process) into every process that serves the API. Viewsets
use this descriptor instead, which does the same only for a view instance.
"""


class LazyAutoSchema:
    def __get__(self, instance, owner):
        if instance is None:
            return self
        from backend.schema import AutoSchema

        inspector = AutoSchema()
        inspector.view = instance
        return inspector

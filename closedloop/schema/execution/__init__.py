"""A compiled fast path for query execution, in the spirit of graphql-jit.

graphql-core completes every field of every object through the same generic code: it looks
the field up, builds a ``GraphQLResolveInfo`` and a ``Path``, goes through strawberry's
resolver wrapper (which builds an ``Info`` and converts arguments), and inspects the return
type at each level. A page of 50 issues has ~900 fields, and that machinery was most of
its CPU time.

``CompiledExecutor`` compiles a validated query once (per schema and operation node; the
parser cache hands back the same document for the same text) into a tree of field plans:
each field knows how to fetch its value and how to complete it for its return type. Plain
attributes are read directly, resolvers without arguments are called directly, any other
resolver goes through its usual (strawberry) wrapper with the same arguments, so every
check in resolvers and services still runs. The info object is built only when a resolver
reads more than its ``context``.

It runs on the executor itself and falls back to graphql-core's code for anything it does
not compile: mutations and subscriptions, documents with directives (``@skip``,
``@include``, ``@defer``, …), middleware, an abort signal, abstract types (interfaces and
unions complete through graphql-core below that field), values that are not lists where a
list is expected, awaitable ``is_type_of`` results. Errors are located, nulled and
propagated exactly as graphql-core does it (its own ``handle_field_error``), so responses
are identical; ``tests/api/test_compiled_execution.py`` checks that over many queries.
"""

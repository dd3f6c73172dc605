"""Identity administration: accounts, enterprises and the audit log of every change.

Each operation is one use case in one unit of work (``unit.open``): every check happens
before the first write, an ``AccountError`` rolls everything back (nothing written, the
audit log unchanged), a success appends its audit entry in the same transaction and
commits explicitly. The API calls them as the signed-in principal (in its scope, under
row-level security); the command line and the identity provider's provisioning as an
``Operator`` (the system role, the whole province).
"""

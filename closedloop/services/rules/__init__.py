"""Administration of the platform's rules and endpoints through the API: time-limit rules
and webhook endpoints. Scoped like accounts (``rules.manage`` on the region they apply
to), audited like them (``closedloop.services.accounts.audit``), written as the system role
after the policy's check (both are reference data the request role only reads, or not at
all)."""

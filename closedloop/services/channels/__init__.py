"""Channel systems (the 12345 hotline, 浙里办, 好差评…) as service accounts: their
credentials and tokens (``clients``) and the records they push in (``submissions``)."""

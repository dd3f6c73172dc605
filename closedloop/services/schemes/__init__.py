"""Scoring schemes as data: versions uploaded and activated through the API (``versions``)
and, per API process, the versions in force (``catalog``)."""

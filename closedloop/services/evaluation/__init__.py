"""Evaluation (晾晒评价): the 8+X scores of departments and regions, red and black lists,
external indicator inputs, and the cockpit of every tier.

- ``targets``: targets and peer groups (16+N departments of a region; a region's children);
- ``attribution``: which issues count for which target, and the counters, in SQL (the
  attribution rules are written down there, A1–A6);
- ``records``: evaluators' external inputs (superseding, history kept) and list entries;
- ``scores``: scoreboards and histories (the arithmetic is ``domain.scoring``);
- ``dashboard``: the cockpit of a region and period;
- ``errors``: the typed errors of the evaluation mutations.
"""

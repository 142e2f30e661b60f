"""Support tickets (issue 6 item 4): customers open tickets and reply in one thread; the support role works
a queue with SLA ageing, claims, replies and changes status. Models in ``models.py``, rules in ``services.py``,
pages in ``views.py`` (blueprint ``support``)."""

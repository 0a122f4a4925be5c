"""The process tiers a worker runs: supervisor, stage processes, sandboxed code processes.

``supervisor`` starts one stage process per stage (``stage_main``); each runs a faust app
(``faust_app``, wired by ``stage_app`` and, for clean, ``dedup_wiring``) whose agents run one
``batch_loop``: it hands each batch to the stage's code (``runner``) in a killable child process
(``sandbox``) and delivers the results (``delivery``) before it acknowledges the batch.
"""

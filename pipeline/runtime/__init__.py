"""The process tiers a worker runs: supervisor, stage processes, sandboxed code processes.

``supervisor`` starts one stage process per stage (``stage_main``); each runs a faust app
(``faust_app``, ``app``) whose batch loop hands batches to the stage's code in a killable child
process (``sandbox``) and delivers the results (``delivery``) before it commits.
"""

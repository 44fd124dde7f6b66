"""The verdict runtime: the code that runs *inside* the sandboxes of a hidden-test run.

Stdlib only, and importing nothing else of qdagents: the harness copies this folder alone into the
sandboxes (as the package ``qdverdict``), so neither the solution nor the judge sees any other file
of this package (in particular no built-in hidden tests or references).

- :mod:`.wire`: length-prefixed JSON frames and the plain-data codec both sides share;
- :mod:`.server`: the solution server (untrusted side): imports the workspace's modules and
  answers the judge's requests about them;
- :mod:`.remote`: the judge's session with the solution (generations, incidents, mirrors of its
  exceptions, answers to its callbacks); :mod:`.proxies`: its objects as the judge holds them;
  :mod:`.imports`: hidden tests and workspace modules imported in the judge;
- :mod:`.judge`: the judge (trusted side): imports the hidden tests, runs them, writes verdicts.

See ``docs/sandbox.md`` (threat model) and ``docs/tasks.md`` (semantics of the boundary).
"""
